"""Names and numbers that several modules share. Imports nothing of the project.

Kept apart so the CLI can build its parser, and the DAG files can be parsed, without
importing pandas or scikit-learn.
"""

from __future__ import annotations

# Share of a night's ranked customers in each band, best first.
BANDS = (("A", 0.10), ("B", 0.20), ("C", 0.30), ("D", 0.40))
BAND_NAMES = tuple(name for name, _ in BANDS)

# Model candidates; "auto" chooses among them by same-day ranking on the latest training calls.
CANDIDATES = ("ranking_blend", "hist_gradient_boosting", "random_forest", "logistic_regression")
ESTIMATORS = ("auto", *CANDIDATES)
DEFAULT_ESTIMATOR = "ranking_blend"
PROMOTE_MODES = ("if_better", "always", "never")

# The Airflow Asset the retrain DAG updates when a champion is promoted.
CHAMPION_ASSET_URI = "bank_scoring://model_versions/champion"
# Updated by the nightly harvest when enough new labelled calls arrived since the last
# training ($BANK_SCORING_RETRAIN_NEW_LABELS); the retrain DAG runs on it besides its week.
LABELLED_ASSET_URI = "bank_scoring://campaign_contacts/labelled"
