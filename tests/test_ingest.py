import datetime as dt

import pytest

from bank_scoring.db import table_counts
from bank_scoring.ingest import IngestError, load_csv, read_uci_csv

HEADER = (
    '"age";"job";"marital";"education";"default";"balance";"housing";"loan";"contact";"day";"month";'
    '"duration";"campaign";"pdays";"previous";"poutcome";"y"'
)
GOOD = '58;"management";"married";"tertiary";"no";2143;"yes";"no";"unknown";5;"may";261;1;-1;0;"unknown";"no"'


def write(tmp_path, *lines, name="calls.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bank_full_rebuilds_years_from_file_order(bank_full_csv):
    frame = read_uci_csv(bank_full_csv)
    assert len(frame) == 45_211
    assert frame["contact_date"].iloc[0] == dt.date(2008, 5, 5)
    assert frame["contact_date"].iloc[-1] == dt.date(2010, 11, 17)
    assert frame["contact_year"].value_counts().to_dict() == {2008: 27_729, 2009: 14_862, 2010: 2_620}
    assert frame["source_line"].iloc[0] == 2 and frame["source_line"].iloc[-1] == 45_212


def test_shuffled_sample_keeps_month_and_day_but_no_invented_year(bank_sample_csv):
    frame = read_uci_csv(bank_sample_csv)
    assert len(frame) == 4_521
    assert frame["contact_year"].isna().all()
    assert frame["contact_date"].isna().all()
    assert frame["contact_month"].notna().all()


def test_loading_twice_changes_nothing(engine, bank_sample_csv):
    first = load_csv(engine, bank_sample_csv)
    again = load_csv(engine, bank_sample_csv)
    assert not first.already_loaded and again.already_loaded
    assert table_counts(engine, ("customers", "campaign_contacts", "load_batches")) == {
        "customers": 4_521,
        "campaign_contacts": 4_521,
        "load_batches": 1,
    }


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (GOOD.replace("58;", "abc;", 1), "age", "'abc' is not a whole number"),
        (GOOD.replace('"may"', '"foo"'), "month", "'foo' is not a month"),
        (GOOD.replace("58;", "250;", 1), "age", "250 is outside 18..110"),
        (GOOD.replace(';"no";2143', ';"maybe";2143'), "default", "'maybe' is not yes or no"),
        (GOOD.replace(";5;", ";;", 1), "day", "value is missing"),
    ],
)
def test_bad_value_names_line_and_field_and_loads_nothing(engine, tmp_path, line, field, message):
    path = write(tmp_path, HEADER, GOOD, line, GOOD)
    with pytest.raises(IngestError) as caught:
        load_csv(engine, path)
    assert f"line 3, field {field}: {message}" in str(caught.value)
    assert table_counts(engine, ("customers", "campaign_contacts", "load_batches")) == {
        "customers": 0,
        "campaign_contacts": 0,
        "load_batches": 0,
    }


def test_every_bad_line_is_listed(tmp_path):
    path = write(tmp_path, HEADER, GOOD.replace("58;", "x;", 1), GOOD, GOOD.replace('"may"', '"mai"'))
    with pytest.raises(IngestError) as caught:
        read_uci_csv(path)
    assert [(p[0], p[1]) for p in caught.value.problems] == [(2, "age"), (4, "month")]


def test_missing_column_is_named(tmp_path):
    header = HEADER.replace('"balance";', "")
    row = GOOD.replace(";2143;", ";")
    with pytest.raises(IngestError, match="line 1, field balance: column is missing"):
        read_uci_csv(write(tmp_path, header, row))


def test_wrong_delimiter_is_explained(tmp_path):
    with pytest.raises(IngestError, match="looks ','-separated"):
        read_uci_csv(write(tmp_path, HEADER.replace(";", ","), GOOD.replace(";", ",")))


def test_row_with_wrong_field_count_is_named(tmp_path):
    with pytest.raises(IngestError, match="line 3, field row: has 16 fields, the header has 17"):
        read_uci_csv(write(tmp_path, HEADER, GOOD, GOOD.rsplit(";", 1)[0]))


def test_impossible_date_is_refused(tmp_path):
    with pytest.raises(IngestError, match="31 feb does not exist"):
        read_uci_csv(write(tmp_path, HEADER, GOOD.replace(';5;"may"', ';31;"feb"')))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(IngestError, match="no such file"):
        read_uci_csv(tmp_path / "nope.csv")
