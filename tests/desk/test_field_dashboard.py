"""The team lead's dashboard shows the day's field check when the model is off (issue 19)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from loop.test_field import record_day
from support import DAY

from bank_scoring.loop.field import field_check

from .conftest import log_in


@pytest.fixture
def client(desk_app):
    with TestClient(desk_app) as found:
        yield found


def test_the_dashboard_shows_a_field_check_that_is_off(desk_engine, client):
    record_day(desk_engine, factor=3.0, n=120)
    log_in(client, "tess")
    assert "Field check:" not in client.get("/dashboard").text
    assert field_check(desk_engine, DAY).off
    page = client.get("/dashboard")
    assert page.status_code == 200 and "Field check: all" in page.text
