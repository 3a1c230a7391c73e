"""One customer's prediction (bank_scoring/desk/predict.py) when requests come at once.

Concurrent requests are scored together, in one frame and one predict; each must get the
answer it would have had alone, and an error stays with the request that caused it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from bank_scoring.db import make_db_engine
from bank_scoring.desk import predict

DATE = dt.date(2026, 11, 28)
CUSTOMERS = [
    {
        "age": 40,
        "job": "technician",
        "marital": "single",
        "education": "tertiary",
        "has_credit_default": False,
        "balance": 1000,
        "has_housing_loan": False,
        "has_personal_loan": False,
    },
    {
        "age": 61,
        "job": "retired",
        "marital": "married",
        "education": "primary",
        "has_credit_default": False,
        "balance": 12000,
        "has_housing_loan": True,
        "has_personal_loan": False,
        "contact_channel": "cellular",
        "campaign": 3,
        "pdays": 90,
        "previous_contacts": 2,
        "previous_outcome": "success",
    },
    {"age": 23, "job": "student", "balance": -300},  # the rest filled with typical values
    {"age": 35, "job": "blue-collar", "marital": "divorced", "education": "secondary", "campaign": 1.5},
]


@pytest.fixture
def engine(trained_sqlite_url):
    engine = make_db_engine(trained_sqlite_url)
    predict.champion_bundle(engine)  # loaded before the threads start
    yield engine
    engine.dispose()


@pytest.fixture
def batches(monkeypatch) -> list[int]:
    """The number of rows of each predict call."""
    sizes: list[int] = []
    real = predict._predict_rows

    def counted(bundle, rows, call_date):
        sizes.append(len(rows))
        return real(bundle, rows, call_date)

    monkeypatch.setattr(predict, "_predict_rows", counted)
    return sizes


def at_once(engine, calls: list[tuple[dict, dt.date]]) -> list:
    """predict_customer for each call in its own thread, all queued before any is scored."""
    found: list = [None] * len(calls)

    def run(i: int, attributes: dict, day: dt.date) -> None:
        try:
            found[i] = predict.predict_customer(engine, attributes, day)
        except Exception as exc:
            found[i] = exc

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    with predict._BATCHER._scoring:  # as if a prediction were running while they come
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(predict._BATCHER._queued) < len(calls):
            assert time.monotonic() < deadline, "the requests did not queue"
            time.sleep(0.001)
    for thread in threads:
        thread.join(timeout=30)
    return found


def test_requests_at_once_are_scored_together_with_the_answers_of_one_at_a_time(engine, batches):
    calls = [(c, DATE) for c in CUSTOMERS * 3] + [(CUSTOMERS[1], DATE + dt.timedelta(days=40))]
    alone = [predict.predict_customer(engine, attributes, day) for attributes, day in calls]
    assert batches == [1] * len(calls)
    assert len({a["probability"] for a in alone}) >= 4  # different customers, different answers
    batches.clear()
    together = at_once(engine, calls)
    assert together == alone
    assert sorted(batches) == [1, len(calls) - 1]  # one frame per call date


def test_an_error_in_a_batch_stays_with_its_request(engine, monkeypatch):
    real = predict._predict_rows

    def refuses_students(bundle, rows, call_date):
        if any(row["job"] == "student" for row in rows):
            raise ValueError("no students")
        return real(bundle, rows, call_date)

    monkeypatch.setattr(predict, "_predict_rows", refuses_students)
    calls = [(c, DATE) for c in CUSTOMERS]
    together = at_once(engine, calls)
    assert isinstance(together[2], ValueError) and str(together[2]) == "no students"
    monkeypatch.setattr(predict, "_predict_rows", real)
    for i in (0, 1, 3):
        assert together[i] == predict.predict_customer(engine, CUSTOMERS[i], DATE)
