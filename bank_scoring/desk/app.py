"""The agents' desk: ``create_app`` builds the web app (pages and the API) on one database.

FastAPI on uvicorn: Airflow 3 already brings both (its API server is FastAPI), so the desk
adds no dependency; pydantic models give the API its OpenAPI description and validation.
Every route is a few lines calling the ``bank_scoring.agents`` functions, with the clock
from ``app.state.clock`` (a test sets it).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException  # FastAPI's subclass, and Starlette's own (404, 405, a bad body)
from starlette.middleware.sessions import SessionMiddleware

from bank_scoring.agents import errors
from bank_scoring.desk.security import LoginLimiter
from bank_scoring.registry import ModelIntegrityError, NoChampionError

log = logging.getLogger(__name__)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
SESSION_COOKIE = "bank_scoring_desk"
SESSION_HOURS = 10  # a shift


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# The status of each refusal of the agents' side, and the request field it is about.
_AGENT_ERRORS = {
    errors.UnknownCustomer: (404, "customer_id"),
    errors.BadOutcome: (422, "outcome"),
    errors.NoClaim: (409, "customer_id"),
    errors.ClaimLimit: (409, None),
    errors.NoNight: (409, None),
    errors.UnknownAgent: (403, "agent"),
}


def create_app(
    engine: Engine,
    secret_key: str,
    clock: Callable[[], dt.datetime] = utc_now,
    https_only: bool = False,
) -> FastAPI:
    """The desk on ``engine``. ``secret_key`` signs the session cookies; ``clock`` gives naive UTC."""
    if len(secret_key) < 32:
        raise ValueError("the desk's secret key needs at least 32 characters")
    from bank_scoring.desk import api, pages, tutorial

    app = FastAPI(
        title="bank-scoring agents' desk",
        version="1",
        description="Leads for agents, outcomes, the team lead's figures, and the model's predictions.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.engine = engine
    app.state.clock = clock
    app.state.limiter = LoginLimiter()
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_HOURS * 3600,
        same_site="strict",
        https_only=https_only,
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.include_router(api.router)
    app.include_router(tutorial.router)
    app.include_router(pages.router)

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api")

    @app.exception_handler(errors.AgentError)
    async def agent_error(request: Request, exc: errors.AgentError):
        status, field = next((v for k, v in _AGENT_ERRORS.items() if isinstance(exc, k)), (400, None))
        if wants_json(request):
            return JSONResponse({"error": str(exc), "field": field}, status_code=status)
        return pages.flash_back(request, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if wants_json(request):
            return JSONResponse({"error": exc.detail, "field": None}, status_code=exc.status_code, headers=exc.headers)
        if exc.status_code == 401:
            return RedirectResponse("/login", status_code=303)
        return TEMPLATES.TemplateResponse(
            request, "error.html", {"status": exc.status_code, "message": exc.detail}, status_code=exc.status_code
        )

    @app.exception_handler(SQLAlchemyError)
    async def database_error(request: Request, exc: SQLAlchemyError):
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        log.error("database error on %s %s: %s", request.method, request.url.path, detail)
        message = f"database error: {detail} (is the schema up to date? run `bank-scoring init-db`)"
        if wants_json(request):
            return JSONResponse({"error": message, "field": None}, status_code=503)
        return TEMPLATES.TemplateResponse(request, "error.html", {"status": 503, "message": message}, status_code=503)

    @app.exception_handler(NoChampionError)
    @app.exception_handler(ModelIntegrityError)
    async def no_model(request: Request, exc: RuntimeError):
        if wants_json(request):
            return JSONResponse({"error": str(exc), "field": None}, status_code=503)
        return TEMPLATES.TemplateResponse(request, "error.html", {"status": 503, "message": str(exc)}, status_code=503)

    @app.exception_handler(LookupError)
    async def not_found(request: Request, exc: LookupError):
        if wants_json(request):
            return JSONResponse({"error": str(exc), "field": None}, status_code=404)
        return TEMPLATES.TemplateResponse(request, "error.html", {"status": 404, "message": str(exc)}, status_code=404)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        message = f"{field}: {first.get('msg', 'invalid')}" if field else first.get("msg", "invalid request")
        if wants_json(request):
            return JSONResponse({"error": message, "field": field}, status_code=422)
        return TEMPLATES.TemplateResponse(request, "error.html", {"status": 422, "message": message}, status_code=422)

    return app
