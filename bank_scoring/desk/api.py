"""``/api/v1``: the desk's REST API, described by OpenAPI at ``/api/openapi.json``.

Authenticated by the session cookie (with ``X-CSRF-Token`` on changes) or a bearer token.
Errors are JSON ``{"error": ..., "field": ...}``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request

from bank_scoring.agents import claims, policy
from bank_scoring.agents.figures import day_figures
from bank_scoring.agents.leads import lead_details
from bank_scoring.agents.users import User
from bank_scoring.desk import schemas
from bank_scoring.desk.security import ANYONE, LEADS, check_csrf, require

# 400: a body that is not JSON at all; 422: one that does not fit the operation.
ERRORS = {code: {"model": schemas.Error} for code in (400, 401, 403, 404, 409, 422, 429)}
router = APIRouter(prefix="/api/v1", tags=["desk"], responses=ERRORS)


def api_user(*roles: str):
    """The caller, with the CSRF header checked when a browser session changes something."""
    check_role = require(*roles)

    def dependency(request: Request) -> User:
        user = check_role(request)
        if getattr(request.state, "needs_csrf", False):
            check_csrf(request, request.headers.get("x-csrf-token"))
        return user

    return dependency


ANY_USER = api_user(*ANYONE)
TEAM_LEAD = api_user(*LEADS)


def now(request: Request) -> dt.datetime:
    return request.app.state.clock()


def to_utc(request: Request, value: dt.datetime | None) -> dt.datetime | None:
    """A client's time as naive UTC: with an offset as given, without one the centre's local time."""
    if value is None:
        return None
    if value.tzinfo is None:
        with request.app.state.engine.connect() as conn:
            value = value.replace(tzinfo=ZoneInfo(policy.load_rules(conn).centre_time_zone))
    return value.astimezone(dt.UTC).replace(tzinfo=None)


@router.post("/leads/next", response_model=schemas.NextLead, summary="claim the best callable lead")
def next_lead(request: Request, user: User = Depends(ANY_USER)):
    engine = request.app.state.engine
    lead = claims.next_lead(engine, user.user_name, now(request))
    if lead is None:
        return {"lead": None, "customer": None}
    return {"lead": asdict(lead), "customer": lead_details(engine, lead.customer_id, lead.run_id, history=5)}


@router.post("/leads/{customer_id}/outcome", response_model=schemas.Recorded, summary="record a call's outcome")
def record(request: Request, customer_id: schemas.CustomerId, body: schemas.OutcomeIn, user: User = Depends(ANY_USER)):
    done = claims.record_outcome(
        request.app.state.engine,
        user.user_name,
        customer_id,
        body.outcome,
        now(request),
        to_utc(request, body.callback_at),
        body.notes,
    )
    return asdict(done)


@router.post("/leads/{customer_id}/release", response_model=schemas.Released, summary="give a claimed lead back")
def release(request: Request, customer_id: schemas.CustomerId, user: User = Depends(ANY_USER)):
    claim = claims.release(request.app.state.engine, user.user_name, customer_id, now(request))
    return {"claim_id": claim, "customer_id": customer_id}


@router.get("/worklist", response_model=schemas.Worklist, summary="the latest night, best leads first")
def worklist(
    request: Request,
    band: schemas.Band | None = None,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=100_000_000),
    user: User = Depends(TEAM_LEAD),
):
    from bank_scoring.worklist import fetch_worklist

    frame = fetch_worklist(request.app.state.engine, limit=limit, band=band, offset=offset)
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return {"rows": rows, "limit": limit, "offset": offset}


@router.get("/runs", response_model=list[schemas.Run], summary="recent scoring runs")
def runs(request: Request, limit: int = Query(20, ge=1, le=500), user: User = Depends(ANY_USER)):
    from bank_scoring.scoring import list_runs

    return [{k: v for k, v in asdict(r).items() if k != "profile"} for r in list_runs(request.app.state.engine, limit)]


@router.get("/models", response_model=list[schemas.Model], summary="model versions")
def models(request: Request, user: User = Depends(ANY_USER)):
    from bank_scoring import registry

    return [
        {
            **{
                k: getattr(v, k)
                for k in (
                    "model_version",
                    "algorithm",
                    "status",
                    "roc_auc",
                    "pr_auc",
                    "lift_top_decile",
                    "brier_score",
                    "training_rows",
                )
            },
            "created_at": str(v.created_at) if v.created_at else None,
            "promoted_at": str(v.promoted_at) if v.promoted_at else None,
            "has_report": bool(v.report_path),
        }
        for v in registry.list_versions(request.app.state.engine)
    ]


@router.get("/figures", summary="a day's calls, contacts and subscriptions beside the expected")
def figures(request: Request, date: dt.date | None = None, user: User = Depends(TEAM_LEAD)) -> dict:
    engine = request.app.state.engine
    if date is None:
        with engine.connect() as conn:
            date = policy.local_now(policy.load_rules(conn), now(request)).date()
    return day_figures(engine, date)


@router.get("/preview", summary="what the contact policy holds back now")
def preview(request: Request, user: User = Depends(TEAM_LEAD)) -> dict:
    return policy.preview(request.app.state.engine, now(request))


@router.post("/predict", response_model=schemas.Prediction, summary="the champion's propensity for one customer")
def predict(request: Request, body: schemas.PredictIn, user: User = Depends(ANY_USER)):
    from bank_scoring.desk.predict import predict_customer

    fields = body.model_dump(exclude={"call_date"})
    return predict_customer(request.app.state.engine, fields, body.call_date or now(request).date())
