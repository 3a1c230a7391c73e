"""The API fuzzed from its own OpenAPI description (schemathesis): no 5xx, no answer outside its schema.

The description is read from ``/api/openapi.json`` of the app itself (``from_asgi``); each
operation gets its own test, valid and invalid data, a bounded number of examples. Requests
go in-process to a desk on a copy of the published night, as team lead tess with a bearer
token, so every operation is reachable (and needs no CSRF token).
"""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine, text
from support import copy_template

from bank_scoring.agents.users import new_api_token
from bank_scoring.db import make_db_engine
from bank_scoring.desk.app import create_app

from .conftest import SECRET_KEY, Clock, at

# The description only: an app on an empty database that is never connected to.
schema = schemathesis.openapi.from_asgi("/api/openapi.json", create_app(create_engine("sqlite://"), SECRET_KEY))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed(night_sqlite_template, tmp_path_factory):
    """The desk the requests go to, at 10:00 on the night's day, and tess's bearer token."""
    root = tmp_path_factory.mktemp("fuzz")
    engine = make_db_engine(copy_template(night_sqlite_template, root / "models", root / "bank.db"))
    token = new_api_token(engine, "tess")
    yield create_app(engine, SECRET_KEY, clock=Clock(at(10))), {"Authorization": f"Bearer {token}"}
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from customers")).scalar() == 3000  # intact afterwards
    engine.dispose()


def test_every_operation_is_described_and_answers_with_its_error_model():
    operations = {f"{r.ok().method.upper()} {r.ok().path}" for r in schema.get_all_operations()}
    assert operations == {
        "POST /api",
        "POST /api/v1/leads/next",
        "POST /api/v1/leads/{customer_id}/outcome",
        "POST /api/v1/leads/{customer_id}/release",
        "GET /api/v1/worklist",
        "GET /api/v1/runs",
        "GET /api/v1/models",
        "GET /api/v1/figures",
        "GET /api/v1/preview",
        "POST /api/v1/predict",
    }
    for path in schema.raw_schema["paths"].values():
        for operation in path.values():
            for code in ("400", "401", "403", "404", "409", "422", "429"):
                assert operation["responses"][code]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=dt.timedelta(seconds=5),  # one request; generous for two shared cores
    database=None,  # no .hypothesis folder in the project
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases every run: a failure here is reproducible
)
def test_the_api_answers_every_request_within_its_description(fuzzed, case):
    app, auth = fuzzed
    case.call_and_validate(app=app, headers=auth, checks=CHECKS)
