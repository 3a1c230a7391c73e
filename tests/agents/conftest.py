"""The agents' side starts from a published night (tests/conftest.py keeps the templates).

The template is the trained one plus a night published for DAY and three users (two
agents, a team lead). Tests pass their own clock: ``at(hour, minute)`` on DAY, UTC,
which is Lisbon's time too in November (the centre's default zone).
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from support import DAY, at, copy_template

from bank_scoring.db import make_db_engine

__all__ = ["DAY", "at", "scalar"]


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


@pytest.fixture(params=["sqlite", "postgresql"])
def night_url(request, tmp_path, model_dir) -> str:
    if request.param == "sqlite":
        return copy_template(request.getfixturevalue("night_sqlite_template"), model_dir, tmp_path / "bank.db")
    return request.getfixturevalue("night_pg_url")


@pytest.fixture
def night(night_url):
    """Both databases: 3,000 customers scored for DAY, agents ana and ben, team lead tess."""
    engine = make_db_engine(night_url)
    yield engine
    engine.dispose()
