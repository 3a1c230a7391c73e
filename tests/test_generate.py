import pandas as pd

from bank_scoring.generate import generate_calls, write_uci_csv
from bank_scoring.ingest import read_uci_csv


def test_same_seed_same_rows_other_seed_other_rows():
    a, b, c = generate_calls(2000, seed=3), generate_calls(2000, seed=3), generate_calls(2000, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_follows_the_uci_shape(bank_full_csv):
    real = read_uci_csv(bank_full_csv)
    fake = generate_calls(45_211, seed=1)
    assert abs(fake["is_subscribed"].mean() - real["is_subscribed"].mean()) < 0.03
    assert abs(fake["age"].median() - real["age"].median()) <= 2
    assert abs((fake["pdays"] == -1).mean() - (real["pdays"] == -1).mean()) < 0.02
    for col in ("job", "marital", "education", "contact_channel", "previous_outcome"):
        assert set(fake[col]) <= set(real[col]), col
    # previous success converts far better than no previous contact, as in the real data
    rates = fake.groupby("previous_outcome")["is_subscribed"].mean()
    assert rates["success"] > 3 * rates["unknown"]
    assert list(fake["contact_date"]) == sorted(fake["contact_date"])


def test_round_trips_through_the_uci_format(tmp_path):
    frame = generate_calls(500, seed=9)
    back = read_uci_csv(write_uci_csv(frame, tmp_path / "synthetic.csv"))
    cols = [
        "age",
        "job",
        "balance",
        "has_housing_loan",
        "pdays",
        "previous_outcome",
        "is_subscribed",
        "contact_month",
        "contact_day",
    ]
    pd.testing.assert_frame_equal(back[cols], frame[cols], check_dtype=False)
    assert list(back["contact_date"]) == list(frame["contact_date"])
