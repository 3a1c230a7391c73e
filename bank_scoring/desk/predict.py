"""One customer's propensity from the champion: the tutorial's ``POST /api`` and ``/api/v1/predict``.

The champion is loaded once per version (its sha256 checked by the registry) and reused;
a promotion is picked up by the next request. Requests that come at once are scored
together, one frame and one predict for all (``_Batcher``), with OpenMP kept to one thread
(bench/api_latency.py measures both).
"""

from __future__ import annotations

import datetime as dt
import threading

import pandas as pd
from sqlalchemy import Engine

from bank_scoring import registry
from bank_scoring.features import CUSTOMER_ATTRIBUTES, feature_frame, month_name

# The tutorial's form and JSON: eight client columns, yes/no flags, UCI names.
TUTORIAL_FIELDS = {
    "age": "age",
    "job": "job",
    "marital": "marital",
    "education": "education",
    "default": "has_credit_default",
    "balance": "balance",
    "housing": "has_housing_loan",
    "loan": "has_personal_loan",
}

_lock = threading.Lock()
_loaded: dict[tuple[int, str], object] = {}
_openmp = None  # threadpoolctl's controller of the loaded thread pools, made on first use


def champion_bundle(engine: Engine):
    """(ModelVersion, ModelBundle) of the current champion, loaded once per version."""
    version = registry.require_champion(engine)
    key = (version.model_version, version.artifact_sha256)
    with _lock:
        bundle = _loaded.get(key)
        if bundle is None:
            bundle = registry.load_model(version)
            _loaded.clear()
            _loaded[key] = bundle
    return version, bundle


def predict_customer(engine: Engine, attributes: dict, call_date: dt.date) -> dict:
    """Propensity for one customer given in the package's column names.

    Attributes not given are filled with the training data's typical value (the champion's
    reference customer); the answer lists which were filled.
    """
    version, bundle = champion_bundle(engine)
    filled = []
    row = {}
    for column in CUSTOMER_ATTRIBUTES:
        if attributes.get(column) is not None:
            row[column] = attributes[column]
        else:
            row[column] = bundle.reference_values.get(column)
            filled.append(column)
    propensity = _BATCHER.score(bundle, row, call_date)
    return {
        "probability": round(propensity, 6),
        "model_version": version.model_version,
        "call_date": call_date.isoformat(),
        "filled_with_typical_values": {c: _plain(row[c]) for c in filled},
    }


class _Job:
    __slots__ = ("bundle", "row", "call_date", "propensity", "error", "done")

    def __init__(self, bundle, row: dict, call_date: dt.date) -> None:
        self.bundle, self.row, self.call_date = bundle, row, call_date
        self.propensity: float | None = None
        self.error: BaseException | None = None
        self.done = False


class _Batcher:
    """Concurrent requests' customers scored together: one feature frame and one predict.

    Nearly all of a one-row prediction's time is the fixed cost of building a pandas frame
    and of scikit-learn's calls (a few ms), the same for 1 row as for 30. A request thread
    queues its row and takes the scoring lock; whoever holds it scores every row queued
    then, its own and those of the threads waiting behind it, which find theirs done. One
    request alone is scored at once, as before. Rows are independent (each customer's
    features and propensity are its own), so the answers are those of one row at a time;
    if a batch fails, each of its rows is scored alone, so that an error stays its own.
    """

    def __init__(self) -> None:
        self._queued: list[_Job] = []
        self._queue_lock = threading.Lock()
        self._scoring = threading.Lock()

    def score(self, bundle, row: dict, call_date: dt.date) -> float:
        job = _Job(bundle, row, call_date)
        with self._queue_lock:
            self._queued.append(job)
        with self._scoring:
            if not job.done:
                with self._queue_lock:
                    jobs, self._queued = self._queued, []
                self._run(jobs)
        if job.error is not None:
            raise job.error
        return job.propensity

    def _run(self, jobs: list[_Job]) -> None:
        groups: dict[tuple[int, dt.date], list[_Job]] = {}
        for job in jobs:  # one champion and one call date in practice
            groups.setdefault((id(job.bundle), job.call_date), []).append(job)
        try:
            for group in groups.values():
                self._run_group(group)
        finally:  # interrupted (KeyboardInterrupt, SystemExit): no thread waits for an answer never given
            for job in jobs:
                if not job.done:
                    job.error, job.done = RuntimeError("the prediction was interrupted"), True

    def _run_group(self, group: list[_Job]) -> None:
        try:
            found = _predict_rows(group[0].bundle, [job.row for job in group], group[0].call_date)
        except Exception as exc:
            if len(group) == 1:
                group[0].error, group[0].done = exc, True
            else:
                for job in group:
                    self._run_group([job])
            return
        for job, propensity in zip(group, found, strict=True):
            job.propensity, job.done = float(propensity), True


def _predict_rows(bundle, rows: list[dict], call_date: dt.date):
    frame = feature_frame(pd.DataFrame(rows), month_name(call_date), call_date.day, call_date.year)
    with _one_openmp_thread():
        return bundle.predict(frame)


_BATCHER = _Batcher()


def _one_openmp_thread():
    """OpenMP limited to one thread in this thread, for the time of one prediction.

    Gradient boosting predicts with OpenMP: for one row a team of a thread per core gains
    nothing, spins after each call and, from the server's pool of request threads, makes
    one team per request thread (more threads than cores).
    """
    global _openmp
    if _openmp is None:  # after the model's import loaded scikit-learn's OpenMP library
        from threadpoolctl import ThreadpoolController

        _openmp = ThreadpoolController()
    return _openmp.limit(limits=1, user_api="openmp")


def from_tutorial(fields: dict) -> dict:
    """The tutorial's fields in the package's names; yes/no flags as booleans."""
    out = {}
    for name, column in TUTORIAL_FIELDS.items():
        value = fields.get(name)
        if value is not None and column.startswith("has_"):
            value = value == "yes"
        out[column] = value
    return out


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    return value
