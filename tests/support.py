"""Helpers tests import by name (conftest.py is not importable reliably)."""

from bank_scoring.generate import generate_calls, synthetic_fingerprint
from bank_scoring.ingest import load_frame


def load_synthetic(engine, customers: int = 3000, seed: int = 7):
    return load_frame(engine, generate_calls(customers, seed=seed), f"synthetic-{seed}",
                      synthetic_fingerprint(customers, seed))
