"""The desk's pages: server-rendered HTML forms, no JavaScript build, usable by keyboard.

Each route is a few lines: it calls a package function and renders a template. Every form
carries the session's CSRF token; an agent's pages show only the agent's own claims and
calls; the dashboard is for team leads.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse

from bank_scoring.agents import claims, figures, policy
from bank_scoring.agents.leads import lead_details
from bank_scoring.agents.users import User, authenticate
from bank_scoring.desk.schemas import CustomerId, ModelVersion, Text
from bank_scoring.desk.security import ANYONE, LEADS, check_csrf, csrf_token, require

router = APIRouter(include_in_schema=False)
ANY_USER = require(*ANYONE)
TEAM_LEAD = require(*LEADS)
OUTCOME_LABELS = {
    "subscribed": "Subscribed",
    "declined": "Declined",
    "no_answer": "No answer",
    "call_back": "Call back",
    "do_not_call": "Do not call",
}


def render(request: Request, name: str, user: User | None = None, status: int = 200, **context):
    from bank_scoring.desk.app import TEMPLATES

    flash = request.session.pop("flash", None)
    return TEMPLATES.TemplateResponse(
        request, name, {"user": user, "csrf": csrf_token(request), "flash": flash, **context}, status_code=status
    )


def go(path: str, message: str | None = None, request: Request | None = None):
    if message and request is not None:
        request.session["flash"] = message
    return RedirectResponse(path, status_code=303)


def flash_back(request: Request, message: str):
    """Back to the page the form was on (same site only), with the message shown there."""
    referer = urlparse(request.headers.get("referer", ""))
    path = referer.path if referer.path.startswith("/") and not referer.path.startswith("//") else "/lead"
    return go(path if request.method == "POST" else "/lead", message, request)


def local(request: Request, when):
    """A stored UTC time (a datetime, or text from SQLite) as the centre's local time."""
    if when is None:
        return None
    if not isinstance(when, dt.datetime):
        when = dt.datetime.fromisoformat(str(when))
    with request.app.state.engine.connect() as conn:
        return policy.local_now(policy.load_rules(conn), when)


@router.get("/login")
def login_page(request: Request):
    return render(request, "login.html")


@router.post("/login")
def login(
    request: Request,
    username: Annotated[Text, Form(max_length=63)],
    password: str = Form(max_length=200),
    csrf: str = Form(""),
):
    check_csrf(request, csrf)
    limiter = request.app.state.limiter
    address = request.client.host if request.client else "?"
    wait = limiter.retry_after(username, address)
    if wait:
        return render(request, "login.html", status=429, error=f"Too many failed logins: try again in {wait} s.")
    user = authenticate(request.app.state.engine, username, password)
    if user is None:
        limiter.failed(username, address)
        return render(request, "login.html", status=401, error="Unknown user or wrong password.")
    limiter.succeeded(username)
    request.session.clear()
    request.session["user"] = user.user_name
    return go("/dashboard" if user.role in LEADS else "/lead")


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")):
    check_csrf(request, csrf)
    request.session.clear()
    return go("/login")


@router.get("/")
def home(user: User = Depends(ANY_USER)):
    return go("/dashboard" if user.role in LEADS else "/lead")


@router.get("/lead")
def lead_page(request: Request, user: User = Depends(ANY_USER)):
    engine, now = request.app.state.engine, request.app.state.clock()
    held = claims.open_claims(engine, user.user_name, now)
    lead = lead_details(engine, held[0], history=10) if held else None
    claim = None
    if held:
        from sqlalchemy import text

        with engine.connect() as conn:
            claim = (
                conn.execute(
                    text(
                        "select rank, band, propensity, expires_at, is_callback from lead_claims "
                        "where agent_id = :a and customer_id = :c and status = 'open'"
                    ),
                    {"a": user.user_name, "c": held[0]},
                )
                .mappings()
                .first()
            )
    return render(
        request,
        "lead.html",
        user,
        lead=lead,
        claim=claim,
        outcomes=OUTCOME_LABELS,
        expires=local(request, claim and claim["expires_at"]),
        now=local(request, now),
    )


@router.post("/lead/next")
def take_next(request: Request, csrf: str = Form(""), user: User = Depends(ANY_USER)):
    check_csrf(request, csrf)
    found = claims.next_lead(request.app.state.engine, user.user_name, request.app.state.clock())
    return go("/lead", None if found else "No lead may be called right now.", request)


@router.post("/lead/{customer_id}/record")
def record(
    request: Request,
    customer_id: CustomerId,
    outcome: str = Form(max_length=20),
    callback_at: str = Form("", max_length=40),
    notes: Annotated[Text, Form(max_length=2000)] = "",
    csrf: str = Form(""),
    user: User = Depends(ANY_USER),
):
    check_csrf(request, csrf)
    from bank_scoring.desk.api import to_utc

    when = None
    if callback_at.strip():
        try:
            when = dt.datetime.fromisoformat(callback_at.strip())
        except ValueError:
            return go("/lead", f"Call back at {callback_at!r}: not a date and time.", request)
    claims.record_outcome(
        request.app.state.engine,
        user.user_name,
        customer_id,
        outcome,
        request.app.state.clock(),
        to_utc(request, when),
        notes.strip() or None,
    )
    label = OUTCOME_LABELS.get(outcome, outcome) + (f" at {when:%Y-%m-%d %H:%M}" if when else "")
    return go("/lead", f"Recorded: {label} for customer {customer_id}.", request)


@router.post("/lead/{customer_id}/release")
def release(request: Request, customer_id: CustomerId, csrf: str = Form(""), user: User = Depends(ANY_USER)):
    check_csrf(request, csrf)
    claims.release(request.app.state.engine, user.user_name, customer_id, request.app.state.clock())
    return go("/lead", f"Customer {customer_id} is back in the pool.", request)


@router.get("/day")
def my_day(request: Request, user: User = Depends(ANY_USER)):
    now = local(request, request.app.state.clock())
    calls = figures.agent_day(request.app.state.engine, user.user_name, now.date())
    for call in calls:
        call["local"] = local(request, call["called_at"])
    counts = {label: sum(1 for c in calls if c["outcome"] == key) for key, label in OUTCOME_LABELS.items()}
    return render(request, "day.html", user, calls=calls, counts=counts, day=now.date(), labels=OUTCOME_LABELS)


@router.get("/dashboard")
def dashboard(request: Request, user: User = Depends(TEAM_LEAD)):
    from bank_scoring import registry
    from bank_scoring.scoring import latest_published_run, list_runs

    engine, now_utc = request.app.state.engine, request.app.state.clock()
    today = local(request, now_utc).date()
    day = figures.day_figures(engine, today)
    runs = list_runs(engine, 1)
    try:
        preview = policy.preview(engine, now_utc)
    except LookupError:
        preview = None
    held = figures.open_claims_by_agent(engine, now_utc)
    return render(
        request,
        "dashboard.html",
        user,
        day=day,
        agents=agents_today(day["by_agent"], held),
        chart=bar_chart(day["by_band"]),
        month=figures.conversion_by_band(engine, today),
        open_claims=held,
        run=runs[0] if runs else None,
        published=latest_published_run(engine),
        champion=registry.champion(engine),
        preview=preview,
        now=local(request, now_utc),
    )


def agents_today(by_agent: list[dict], held: dict[str, int]) -> list[dict]:
    """The day's rows by agent, and a zero row for each agent who holds a lead but has not called yet."""
    called = {r["agent_id"] for r in by_agent}
    zero = {"calls": 0, "contacts": 0, "subscriptions": 0, "expected_subscriptions": 0.0}
    waiting = [{"agent_id": a, **zero} for a in sorted(held) if a not in called]
    return sorted(by_agent + waiting, key=lambda r: r["agent_id"])


def bar_chart(rows: list[dict]) -> dict:
    """Bars per band (calls, contacts, subscriptions, expected) as SVG coordinates, no JavaScript."""
    series = (
        ("calls", "#8aa4c8"),
        ("contacts", "#4f7cb5"),
        ("subscriptions", "#1b7f3b"),
        ("expected_subscriptions", "#e0a030"),
    )
    top = max([r[key] for r in rows for key, _ in series] + [1])
    bars, width, height = [], 36, 160
    for i, row in enumerate(rows):
        for j, (key, colour) in enumerate(series):
            value = row[key]
            h = round(height * value / top)
            bars.append(
                {
                    "x": 40 + i * 5 * width + j * width,
                    "y": 10 + height - h,
                    "h": h,
                    "w": width - 6,
                    "colour": colour,
                    "value": round(value, 1),
                    "label": key.replace("_", " "),
                }
            )
    labels = [{"x": 40 + i * 5 * width + 2 * width, "band": r["band"]} for i, r in enumerate(rows)]
    return {
        "bars": bars,
        "labels": labels,
        "width": 60 + max(len(rows), 1) * 5 * width,
        "height": height + 40,
        "series": [(k.replace("_", " "), c) for k, c in series],
    }


@router.get("/predict")
def predict_page(request: Request, user: User = Depends(ANY_USER)):
    return render(request, "predict.html", user, result=None, form={})


@router.post("/predict")
def predict_form(
    request: Request,
    age: int = Form(ge=18, le=110),
    job: str = Form(max_length=20),
    marital: str = Form(max_length=20),
    education: str = Form(max_length=20),
    default: str = Form(max_length=3),
    balance: int = Form(ge=-100_000_000, le=1_000_000_000),
    housing: str = Form(max_length=3),
    loan: str = Form(max_length=3),
    csrf: str = Form(""),
    user: User = Depends(ANY_USER),
):
    check_csrf(request, csrf)
    from pydantic import ValidationError

    from bank_scoring.desk.predict import from_tutorial, predict_customer
    from bank_scoring.desk.schemas import TutorialIn

    form = {
        "age": age,
        "job": job,
        "marital": marital,
        "education": education,
        "default": default,
        "balance": balance,
        "housing": housing,
        "loan": loan,
    }
    try:
        fields = TutorialIn(**form).model_dump()
    except ValidationError as exc:
        first = exc.errors()[0]
        return render(
            request,
            "predict.html",
            user,
            status=422,
            result=None,
            form=form,
            error=f"{first['loc'][0]}: {first['msg']}",
        )
    result = predict_customer(request.app.state.engine, from_tutorial(fields), request.app.state.clock().date())
    return render(request, "predict.html", user, result=result, form=form)


@router.get("/models/{version}/report/{name:path}")
def model_report(request: Request, version: ModelVersion, name: str = "index.html", user: User = Depends(ANY_USER)):
    """A model version's HTML report and its images, from the report's own folder only."""
    from bank_scoring import registry

    found = registry.get_version(request.app.state.engine, version)
    if not found.report_path:
        raise HTTPException(404, f"model v{version} has no report yet: `bank-scoring report {version}`")
    folder = Path(found.report_path).parent.resolve()
    if "\x00" in name:  # no file is named so; Path.resolve would raise ValueError (a 500)
        raise HTTPException(404, "no such file in the report")
    target = (folder / (name or "index.html")).resolve()
    if folder not in target.parents or not target.is_file():
        raise HTTPException(404, "no such file in the report")
    return FileResponse(target)
