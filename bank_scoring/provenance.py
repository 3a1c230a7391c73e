"""Where a model came from: library versions, the code version, and the hash of the code
that decides what a model is (part of the retrain reuse key)."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from pathlib import Path

import joblib

import bank_scoring

_MODEL_CODE = ("features.py", "validate.py", "model_bundle.py", "training/*.py")


def library_versions() -> dict[str, str]:
    import numpy
    import pandas
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
        "joblib": joblib.__version__,
    }


def code_version() -> str:
    """The package version plus the git commit when the code runs from a checkout."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        return f"{bank_scoring.__version__}+g{commit}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return bank_scoring.__version__


def model_code_sha256() -> str:
    """sha256 of the code that decides what a model is (features, training, the bundle).

    Part of the retrain reuse key: a commit that changes only docs or the CLI does not
    make the same rows train a "new" model, while a change to features or training does.
    """
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for path in sorted(p for pattern in _MODEL_CODE for p in here.glob(pattern)):
        digest.update(path.relative_to(here).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()
