"""The tutorial's prediction app, rebuilt in its own shape: bench/api_latency.py's baseline.

    python bench/tutorial_app.py --csv path/to/bank.csv [--host 127.0.0.1] [--port 5000]

As the tutorial did it: at start-up it reads the UCI calls, one-hot encodes its eight client
columns with ``pd.get_dummies``, fits a ``RandomForestClassifier`` with its default
parameters (100 trees) and keeps the encoded column names; ``POST /api`` takes the eight
columns as JSON, builds a one-row DataFrame, encodes it the same way, lines its columns up
with the training ones and answers ``predict_proba``. It is served as the tutorial served
it: Flask's own server (``app.run``, Werkzeug's development server, a thread per request).

Nothing of bank_scoring is used: this is the app the project replaced, kept for comparison.
"""

from __future__ import annotations

import argparse
import os

import pandas as pd
from flask import Flask, jsonify, request
from sklearn.ensemble import RandomForestClassifier

COLUMNS = ["age", "job", "marital", "education", "default", "balance", "housing", "loan"]

app = Flask(__name__)
model = None
model_columns: list[str] = []


def train(csv: str, seed: int = 42) -> None:
    """The tutorial's training: one-hot encoding of the eight columns, a default RandomForest."""
    global model, model_columns
    data = pd.read_csv(csv, sep=";")
    X = pd.get_dummies(data[COLUMNS])
    y = (data["y"] == "yes").astype(int)
    model = RandomForestClassifier(n_estimators=100, random_state=seed).fit(X, y)
    model_columns = list(X.columns)


@app.route("/api", methods=["POST"])
def predict():
    data = request.get_json(force=True)
    query = pd.get_dummies(pd.DataFrame([data]))
    query = query.reindex(columns=model_columns, fill_value=0)
    probability = float(model.predict_proba(query)[0][1])
    return jsonify({"probability": probability, "prediction": int(probability >= 0.5)})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", default=os.environ.get("BANK_CSV"), help="the UCI calls (default $BANK_CSV)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    if not args.csv:
        parser.error("pass --csv PATH or set BANK_CSV")
    train(args.csv)
    app.run(host=args.host, port=args.port, threaded=True)
