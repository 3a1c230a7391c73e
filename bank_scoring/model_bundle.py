"""What a model version is on disk: the fitted Pipeline plus what the night needs beside it.

One object per artifact (joblib), hashed as a whole by the registry:
- ``pipeline``: the scikit-learn Pipeline (encoding and estimator) that turns a feature
  frame into propensities;
- ``features``: the feature columns, in the order the Pipeline was fitted on;
- ``reference_values``: a typical training customer, for the reason codes;
- ``training_profile``: the training rows' feature histograms, for drift;
- ``reference_sample``: training rows that each night scores with its own call date,
  the reference of the night's score distribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(eq=False)
class ModelBundle:
    pipeline: Any
    features: tuple[str, ...]
    reference_values: dict
    training_profile: dict
    reference_sample: pd.DataFrame
    # Per score date: the training profile plus that night's score reference (not saved).
    night_cache: dict = field(default_factory=dict, repr=False, compare=False)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Propensity (probability of subscribing) for each row of a feature frame."""
        if len(features) == 0:
            return np.empty(0)
        columns = list(self.features)
        frame = features if list(features.columns) == columns else features[columns]
        return self.pipeline.predict_proba(frame)[:, 1]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["night_cache"] = {}
        return state
