"""Helpers tests import by name (conftest.py is not importable reliably)."""

import os

import pytest

from bank_scoring.generate import generate_calls, synthetic_fingerprint
from bank_scoring.ingest import load_frame


def load_synthetic(engine, customers: int = 3000, seed: int = 7):
    return load_frame(engine, generate_calls(customers, seed=seed), f"synthetic-{seed}",
                      synthetic_fingerprint(customers, seed))


IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (mandatory under CI=true)")
    pytest.skip(reason)
