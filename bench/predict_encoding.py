"""What skip_repeated_encoding saves: predict of 1M generated customers with and without
gradient boosting's own category re-encoding, in one process, alternating.

    .venv/bin/python bench/predict_encoding.py [--rounds 5] [--chunk 100000]

The one private scikit-learn attribute the project touches is kept only for this gain;
its guard (identical probabilities, or the encoder stays) is tested in tests/test_train.py.
"""

import argparse
import copy
import statistics
import time

import numpy as np

from bank_scoring.features import feature_frame
from bank_scoring.generate import generate_calls
from bank_scoring.training import build_pipeline, skip_repeated_encoding

parser = argparse.ArgumentParser()
parser.add_argument("--rounds", type=int, default=5)
parser.add_argument("--customers", type=int, default=1_000_000)
parser.add_argument("--chunk", type=int, default=0, help="predict in chunks of this many rows (0: one call)")
args = parser.parse_args()

calls = generate_calls(45_211, seed=1)
X = feature_frame(calls, calls["contact_month"], calls["contact_day"], calls["contact_year"])
y = calls["is_subscribed"].astype(int).to_numpy()
kept = build_pipeline("hist_gradient_boosting", seed=42).fit(X, y)
skipped = copy.deepcopy(kept)
assert skip_repeated_encoding(skipped, X), "the guard refused to skip"
assert kept.named_steps["model"]._preprocessor is not None

customers = generate_calls(args.customers, seed=2)
tonight = feature_frame(customers, "nov", 28, 2026)
print(f"{len(tonight):,} customers; trees: {kept.named_steps['model'].n_iter_}; chunk: {args.chunk or 'whole'}")


def predict(pipeline):
    if not args.chunk:
        return pipeline.predict_proba(tonight)[:, 1]
    return np.concatenate(
        [pipeline.predict_proba(tonight.iloc[i : i + args.chunk])[:, 1] for i in range(0, len(tonight), args.chunk)]
    )


assert np.array_equal(predict(kept), predict(skipped))  # warm-up, and the same scores
wall = {"with encoder (kept)": [], "without (skipped)": []}
cpu = {name: [] for name in wall}
for r in range(args.rounds):
    for name, pipeline in (
        (("with encoder (kept)", kept), ("without (skipped)", skipped))
        if r % 2 == 0
        else (("without (skipped)", skipped), ("with encoder (kept)", kept))
    ):
        started, cpu_started = time.perf_counter(), time.process_time()
        predict(pipeline)
        wall[name].append(time.perf_counter() - started)
        cpu[name].append(time.process_time() - cpu_started)
for label, times in (("wall", wall), ("cpu (all threads)", cpu)):
    for name, values in times.items():
        print(
            f"{label:<18} {name:<22} median {statistics.median(values):.3f} s  "
            f"runs {' '.join(f'{v:.3f}' for v in values)}"
        )
    with_, without = (statistics.median(v) for v in times.values())
    print(
        f"{label:<18} gain: {with_ - without:.3f} s per {len(tonight):,} customers "
        f"({(with_ - without) / with_:.1%} of predict)"
    )
