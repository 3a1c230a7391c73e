"""The loop's tests start from a published night, on both databases (as tests/agents)."""

from __future__ import annotations

import pytest
from support import copy_template

from bank_scoring.db import make_db_engine


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
