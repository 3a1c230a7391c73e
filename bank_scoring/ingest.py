"""Load the UCI Bank Marketing format into ``customers`` and ``campaign_contacts``.

The UCI files have no customer id: each line is one customer and the last call of the
campaign to them. A file gets a block of new customer ids, and its sha256 is recorded in
``load_batches`` so that loading the same file again changes nothing. A file with any bad
value is refused whole, with every bad line and field named: nothing is half-loaded.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from bank_scoring.db import HARVEST_ID_BASE, file_sha256, next_id
from bank_scoring.features import CUSTOMER_ATTRIBUTES, MONTHS
from bank_scoring.validate import RANGES

UCI_COLUMNS = (
    "age",
    "job",
    "marital",
    "education",
    "default",
    "balance",
    "housing",
    "loan",
    "contact",
    "day",
    "month",
    "duration",
    "campaign",
    "pdays",
    "previous",
    "poutcome",
    "y",
)
INTEGER_FIELDS = ("age", "balance", "day", "duration", "campaign", "pdays", "previous")
YES_NO_FIELDS = ("default", "housing", "loan", "y")
TEXT_FIELDS = ("job", "marital", "education", "contact", "poutcome")
# UCI names -> our column names (``default`` is an SQL reserved word).
RENAMES = {
    "default": "has_credit_default",
    "housing": "has_housing_loan",
    "loan": "has_personal_loan",
    "contact": "contact_channel",
    "previous": "previous_contacts",
    "poutcome": "previous_outcome",
    "day": "contact_day",
    "month": "contact_month",
    "duration": "duration_seconds",
    "y": "is_subscribed",
}
_RANGE_OF = {
    "age": "age",
    "balance": "balance",
    "campaign": "campaign",
    "pdays": "pdays",
    "previous": "previous_contacts",
    "duration": None,
    "day": None,
}
DEFAULT_START_YEAR = 2008
MAX_YEARS_SPANNED = 10
MAX_ERRORS_SHOWN = 20
INSERT_CHUNK = 5_000


class IngestError(ValueError):
    """The input cannot be loaded; ``problems`` lists (line, field, message)."""

    def __init__(self, source: str, problems: list[tuple[int, str, str]], total: int | None = None):
        self.source = source
        self.problems = problems
        total = len(problems) if total is None else total
        shown = "\n".join(f"  line {line}, field {field}: {msg}" for line, field, msg in problems[:MAX_ERRORS_SHOWN])
        more = f"\n  ... and {total - MAX_ERRORS_SHOWN} more" if total > MAX_ERRORS_SHOWN else ""
        super().__init__(f"{source}: {total} problem(s), nothing was loaded:\n{shown}{more}")


@dataclass(frozen=True)
class LoadResult:
    source_name: str
    source_sha256: str
    rows: int
    load_batch_id: int
    first_customer_id: int | None
    already_loaded: bool
    has_rebuilt_dates: bool


def _check_header(first_line: str, source: str, delimiter: str) -> list[str]:
    fields = next(csv.reader([first_line], delimiter=delimiter)) if first_line.strip() else []
    if len(fields) <= 1:
        found = [d for d in (",", "\t", "|", ";") if d in first_line and d != delimiter]
        hint = f" it looks {found[0]!r}-separated;" if found else ""
        raise IngestError(
            source,
            [
                (
                    1,
                    "header",
                    f"expected {delimiter!r}-separated UCI columns;{hint} header is {first_line.strip()[:80]!r}",
                )
            ],
        )
    names = [f.strip().lower() for f in fields]
    missing = [c for c in UCI_COLUMNS if c not in names]
    if missing:
        raise IngestError(source, [(1, c, "column is missing from the header") for c in missing])
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise IngestError(source, [(1, c, "column appears twice in the header") for c in dupes])
    return names


def read_uci_csv(path: Path | str, delimiter: str = ";", start_year: int = DEFAULT_START_YEAR) -> pd.DataFrame:
    """Parse and validate a UCI Bank Marketing file.

    Returns:
        A typed frame in our column names, with ``source_line`` (1 = header) and
        ``contact_year``/``contact_date`` rebuilt from the file order where the file is in
        date order (bank-full.csv), else left empty (a shuffled sample such as bank.csv).

    Raises:
        IngestError: naming every bad line and field; nothing is returned.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise IngestError(source, [(0, "file", "no such file")])
    with open(path, encoding="utf-8-sig", newline="") as fh:
        first_line = fh.readline()
        names = _check_header(first_line, source, delimiter)
        rest = fh.read()
    line_numbers: list[int] = []
    problems: list[tuple[int, str, str]] = []
    for offset, fields in enumerate(csv.reader(io.StringIO(rest), delimiter=delimiter)):
        if not fields or fields == [""]:
            continue
        line_numbers.append(offset + 2)
        if len(fields) != len(names):
            problems.append((offset + 2, "row", f"has {len(fields)} fields, the header has {len(names)}"))
    if problems:
        raise IngestError(source, problems)
    raw = pd.read_csv(
        io.StringIO(rest),
        sep=delimiter,
        header=None,
        names=names,
        dtype=str,
        keep_default_na=False,
        na_values=[],
        quotechar='"',
        skip_blank_lines=True,
    )
    raw.index = pd.Index(line_numbers, name="source_line")
    return _typed_frame(raw, source, start_year)


def _typed_frame(raw: pd.DataFrame, source: str, start_year: int) -> pd.DataFrame:
    problems: list[tuple[int, str, str]] = []

    def bad(mask: pd.Series, field: str, message) -> None:
        for line in mask[mask].index[: MAX_ERRORS_SHOWN * 5]:
            msg = message(raw.at[line, field]) if callable(message) else message
            problems.append((int(line), field, msg))

    out = pd.DataFrame(index=raw.index)
    for field in UCI_COLUMNS:
        values = raw[field].fillna("").astype(str).str.strip()
        empty = values == ""
        bad(empty, field, "value is missing")
        if field in INTEGER_FIELDS:
            numbers = pd.to_numeric(values, errors="coerce")
            not_int = ~empty & (numbers.isna() | (numbers != np.floor(numbers)))
            bad(not_int, field, lambda v: f"{v!r} is not a whole number")
            rng = RANGES.get(_RANGE_OF[field] or "")
            if field == "day":
                rng = (1, 31)
            elif field == "duration":
                rng = (0, 100_000)
            outside = ~empty & ~not_int & ((numbers < rng[0]) | (numbers > rng[1]))
            bad(outside, field, lambda v, r=rng: f"{v} is outside {r[0]}..{r[1]}")
            out[field] = numbers
        elif field in YES_NO_FIELDS:
            lowered = values.str.lower()
            bad(~empty & ~lowered.isin(["yes", "no"]), field, lambda v: f"{v!r} is not yes or no")
            out[field] = lowered == "yes"
        elif field == "month":
            lowered = values.str.lower()
            bad(~empty & ~lowered.isin(MONTHS), field, lambda v: f"{v!r} is not a month (jan..dec)")
            out[field] = lowered
        else:
            out[field] = values.str.lower()
    if problems:
        problems.sort()
        raise IngestError(source, problems)

    out = out.rename(columns=RENAMES)
    for col in ("age", "balance", "contact_day", "duration_seconds", "campaign", "pdays", "previous_contacts"):
        out[col] = out[col].astype("int64")
    out["contact_year"] = rebuild_years(out["contact_month"], start_year)
    _check_days(out, source)
    out["contact_date"] = [
        dt.date(int(y), MONTHS.index(m) + 1, int(d)) if pd.notna(y) else None
        for y, m, d in zip(out["contact_year"], out["contact_month"], out["contact_day"], strict=True)
    ]
    out["source_line"] = out.index.astype("int64")
    return out.reset_index(drop=True)


def rebuild_years(months: pd.Series, start_year: int = DEFAULT_START_YEAR) -> pd.Series:
    """Rebuild each call's year from file order: a new year starts when the month goes back.

    Only for a file in date order. A shuffled file has the month going back on nearly every
    other line; there the year is unknown and left empty rather than invented.
    """
    numbers = months.map(lambda m: MONTHS.index(m) + 1).to_numpy()
    if len(numbers) == 0:
        return pd.Series([], dtype="Int64")
    rollovers = np.concatenate([[0], (np.diff(numbers) < 0).astype(int)])
    # An ordered file spanning Y years has Y-1 rollovers; a shuffled one has one every few
    # lines. Small files get little benefit of the doubt.
    if rollovers.sum() > min(MAX_YEARS_SPANNED, len(numbers) // 50):
        return pd.Series(pd.NA, index=months.index, dtype="Int64")
    return pd.Series(start_year + np.cumsum(rollovers), index=months.index, dtype="Int64")


def _check_days(frame: pd.DataFrame, source: str) -> None:
    problems = []
    columns = (frame.index, frame["contact_year"], frame["contact_month"], frame["contact_day"])
    for line, year, month, day in zip(*columns, strict=True):
        month_no = MONTHS.index(month) + 1
        # With no year, 29 February is allowed (it exists in some year).
        any_year = 2000 if pd.isna(year) else int(year)
        last = calendar.monthrange(any_year, month_no)[1]
        if day > last:
            problems.append((int(line), "day", f"{day} {month} does not exist"))
    if problems:
        raise IngestError(source, problems)


def load_frame(engine: Engine, frame: pd.DataFrame, source_name: str, source_sha256: str, progress=None) -> LoadResult:
    """Insert a typed frame (from :func:`read_uci_csv` or the generator) in one transaction.

    Each row becomes a new customer (attributes as at the call) and one past call.
    """
    has_dates = bool(frame["contact_year"].notna().all()) if len(frame) else False
    with engine.begin() as conn:
        existing = conn.execute(
            text(
                "select load_batch_id, row_count, first_customer_id, has_rebuilt_dates "
                "from load_batches where source_sha256 = :sha"
            ),
            {"sha": source_sha256},
        ).first()
        if existing:
            return LoadResult(
                source_name,
                source_sha256,
                int(existing.row_count),
                int(existing.load_batch_id),
                existing.first_customer_id,
                True,
                bool(existing.has_rebuilt_dates),
            )
        batch_id = next_id(conn, "load_batches", "load_batch_id")
        first_customer = next_id(conn, "customers", "customer_id")
        # Below the harvested calls' range (bank_scoring/loop/harvest.py), which has its own ids.
        first_contact = next_id(conn, "campaign_contacts", "contact_id", below=HARVEST_ID_BASE)
        n = len(frame)
        conn.execute(
            text(
                "insert into load_batches (load_batch_id, source_name, source_sha256, row_count, "
                "first_customer_id, last_customer_id, has_rebuilt_dates) "
                "values (:id, :name, :sha, :n, :first, :last, :dates)"
            ),
            {
                "id": batch_id,
                "name": source_name,
                "sha": source_sha256,
                "n": n,
                "first": first_customer if n else None,
                "last": first_customer + n - 1 if n else None,
                "dates": has_dates,
            },
        )
        customer_cols = ["customer_id", *CUSTOMER_ATTRIBUTES, "load_batch_id"]
        contact_cols = [
            "contact_id",
            "customer_id",
            "load_batch_id",
            "source_line",
            "contact_date",
            "contact_year",
            "contact_month",
            "contact_day",
            *customer_cols[1:-1],
            "duration_seconds",
            "is_subscribed",
        ]
        insert_customers = text(
            f"insert into customers ({', '.join(customer_cols)}) values ({', '.join(':' + c for c in customer_cols)})"
        )
        insert_contacts = text(
            f"insert into campaign_contacts ({', '.join(contact_cols)}) "
            f"values ({', '.join(':' + c for c in contact_cols)})"
        )
        for start in range(0, n, INSERT_CHUNK):
            chunk = frame.iloc[start : start + INSERT_CHUNK].copy()
            chunk["customer_id"] = np.arange(first_customer + start, first_customer + start + len(chunk))
            chunk["contact_id"] = np.arange(first_contact + start, first_contact + start + len(chunk))
            chunk["load_batch_id"] = batch_id
            chunk["contact_date"] = [d.isoformat() if d is not None else None for d in chunk["contact_date"]]
            records = _records(chunk, contact_cols)
            conn.execute(insert_customers, [{c: r[c] for c in customer_cols} for r in records])
            conn.execute(insert_contacts, records)
            if progress:
                progress(min(start + INSERT_CHUNK, n), n)
    return LoadResult(source_name, source_sha256, n, batch_id, first_customer if n else None, False, has_dates)


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    """Plain Python values for the driver (numpy ints and pandas NA are not bindable everywhere)."""
    sub = frame[columns].astype(object).where(frame[columns].notna(), None)
    records = sub.to_dict("records")
    for rec in records:
        for key, value in rec.items():
            if isinstance(value, np.integer):
                rec[key] = int(value)
            elif isinstance(value, np.floating):
                rec[key] = float(value)
            elif isinstance(value, np.bool_):
                rec[key] = bool(value)
    return records


def load_csv(
    engine: Engine, path: Path | str, delimiter: str = ";", start_year: int = DEFAULT_START_YEAR, progress=None
) -> LoadResult:
    """Validate and load a UCI file; loading the same bytes again is a no-op."""
    path = Path(path)
    frame = read_uci_csv(path, delimiter=delimiter, start_year=start_year)
    return load_frame(engine, frame, path.name, file_sha256(path), progress=progress)
