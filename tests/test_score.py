import datetime as dt

import pytest
from sqlalchemy import text

from bank_scoring.db import as_date
from bank_scoring.registry import NoChampionError
from bank_scoring.scoring import (
    ScoringError,
    mark_failed,
    plan_partitions,
    publish_run,
    resolve_score_date,
    score_customers,
    score_partition,
    start_run,
)

DAY = dt.date(2026, 11, 28)


@pytest.fixture
def ready(trained_engine):
    """3,000 synthetic customers and a champion, on SQLite and on PostgreSQL."""
    return trained_engine


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def scalar_row(engine, sql, **params):
    with engine.connect() as conn:
        return tuple(conn.execute(text(sql), params).one())


def add_bad_customers(engine):
    rows = [
        (900001, None, "technician", "single"),
        (900002, -1, "technician", "single"),
        (900003, 250, "technician", "single"),
        (900004, 40, "astronaut", "single"),
        (900005, 40, None, None),
    ]
    with engine.begin() as conn:
        for cid, age, job, marital in rows:
            conn.execute(
                text(
                    "insert into customers (customer_id, age, job, marital, education, has_credit_default, balance, "
                    "has_housing_loan, has_personal_loan, contact_channel, campaign, pdays, previous_contacts, "
                    "previous_outcome) values (:c, :a, :j, :m, 'secondary', false, 100, true, false, 'cellular', 1, "
                    "-1, 0, 'unknown')"
                ),
                {"c": cid, "a": age, "j": job, "m": marital},
            )


def test_no_champion_is_a_clear_error(loaded_engine):
    with pytest.raises(NoChampionError, match="bank-scoring train"):
        score_customers(loaded_engine, DAY)


def test_every_customer_scored_or_rejected_with_reason(ready):
    add_bad_customers(ready)
    run = score_customers(ready, DAY, partitions=3, chunk_rows=700)
    assert run.status == "published"
    assert (run.customers_scored, run.customers_rejected) == (3001, 4)
    assert run.customers_total == scalar(ready, "select count(*) from customers")
    with ready.connect() as conn:
        reasons = dict(
            conn.execute(
                text("select customer_id, reason from scoring_rejects where run_id = :r"), {"r": run.run_id}
            ).all()
        )
    assert reasons == {
        900001: "age is missing",
        900002: "age -1 is outside 18..110",
        900003: "age 250 is outside 18..110",
        900005: "job is missing; marital is missing",
    }
    # the unknown job is scored, not rejected
    assert scalar(ready, "select count(*) from customer_scores where customer_id = 900004") == 1


def test_one_row_per_customer_ranked_and_banded(ready):
    run = score_customers(ready, DAY, partitions=2)
    assert scalar(ready, "select count(*) from customer_scores where score_date = :d", d=DAY) == 3000
    assert scalar(ready, "select count(distinct rank) from customer_scores where score_date = :d", d=DAY) == 3000
    with ready.connect() as conn:
        rows = conn.execute(
            text("select rank, propensity, band from customer_scores where run_id = :r order by rank"),
            {"r": run.run_id},
        ).all()
    props = [r.propensity for r in rows]
    assert props == sorted(props, reverse=True)
    assert all(0 <= p <= 1 for p in props)
    bands = [r.band for r in rows]
    assert (bands.count("A"), bands.count("B"), bands.count("C"), bands.count("D")) == (300, 600, 900, 1200)


def test_rerunning_a_date_replaces_it_and_keeps_other_dates(ready):
    first = score_customers(ready, DAY)
    score_customers(ready, DAY - dt.timedelta(days=1))
    second = score_customers(ready, DAY)
    assert scalar(ready, "select count(*) from customer_scores where score_date = :d", d=DAY) == 3000
    assert scalar(ready, "select count(*) from customer_scores") == 6000
    assert scalar(ready, "select status from scoring_runs where run_id = :r", r=first.run_id) == "superseded"
    assert scalar(ready, "select count(distinct run_id) from customer_scores where score_date = :d", d=DAY) == 1
    assert scalar(ready, "select run_id from customer_scores where score_date = :d limit 1", d=DAY) == second.run_id
    assert scalar(ready, "select count(*) from customer_scores_staging") == 0


def test_retried_partition_does_not_duplicate(ready):
    run_id = start_run(ready, DAY, partitions=2)
    (lo1, hi1), (lo2, hi2) = plan_partitions(ready, 2)
    score_partition(ready, run_id, lo1, hi1)
    score_partition(ready, run_id, lo1, hi1)  # Airflow retry of the same range
    score_partition(ready, run_id, lo2, hi2)
    summary = publish_run(ready, run_id)
    assert summary.customers_scored == 3000


def test_unscored_customers_block_publication_and_keep_the_old_run(ready):
    old = score_customers(ready, DAY)
    run_id = start_run(ready, DAY, partitions=2)
    (lo, hi), _ = plan_partitions(ready, 2)
    score_partition(ready, run_id, lo, hi)  # the second partition never ran
    with pytest.raises(ScoringError, match="neither scored, rejected nor suppressed"):
        publish_run(ready, run_id)
    assert scalar(ready, "select status from scoring_runs where run_id = :r", r=run_id) == "failed"
    assert scalar(ready, "select max(run_id) from agent_worklist") == old.run_id
    assert scalar(ready, "select count(*) from customer_scores_staging") == 0


def test_a_customer_replaced_during_the_run_blocks_publication(ready):
    """Same count, different customers: the id checksum catches what a count alone would not."""
    insert = text(
        "insert into customers (customer_id, age, job, marital, education, has_credit_default, balance, "
        "has_housing_loan, has_personal_loan, contact_channel, campaign, pdays, previous_contacts, "
        "previous_outcome) values (:c, 40, 'admin.', 'single', 'secondary', false, 10, false, false, "
        "'cellular', 1, -1, 0, 'unknown')"
    )
    with ready.begin() as conn:
        conn.execute(insert, {"c": 990001})
    run_id = start_run(ready, DAY, partitions=1)
    ((lo, hi),) = plan_partitions(ready, 1)
    score_partition(ready, run_id, lo, hi)
    with ready.begin() as conn:
        conn.execute(text("delete from customers where customer_id = 990001"))
        conn.execute(insert, {"c": 990002})
    with pytest.raises(ScoringError, match="do not match"):
        publish_run(ready, run_id)
    assert scalar(ready, "select status from scoring_runs where run_id = :r", r=run_id) == "failed"


def test_parallel_workers_give_the_same_scores_as_one_process(ready):
    one = score_customers(ready, DAY, partitions=3, chunk_rows=400)
    with ready.connect() as conn:
        before = dict(
            conn.execute(
                text("select customer_id, propensity from customer_scores where run_id = :r"), {"r": one.run_id}
            ).all()
        )
    two = score_customers(ready, DAY, partitions=3, chunk_rows=400, workers=2)
    assert (two.status, two.customers_scored) == ("published", 3000)
    with ready.connect() as conn:
        after = dict(
            conn.execute(
                text("select customer_id, propensity from customer_scores where run_id = :r"), {"r": two.run_id}
            ).all()
        )
    assert after.keys() == before.keys()
    assert max(abs(after[c] - before[c]) for c in before) < 1e-12
    # This process and one spawned process: the spawned one takes a range as soon as its
    # slot starts, and reports its own peak memory.
    assert len(two.profile.worker_peaks) == 1 and two.profile.worker_peaks[0] > 50 * 2**20
    # The run's profile comes back with it: each step, and the partitions' time in both processes.
    assert {
        "start_run",
        "plan_partitions",
        "score_partitions",
        "publish",
        "publish: check counts",
        "cpu:predict",
    } <= two.profile.steps.keys()


def test_a_failing_partition_stops_the_others_taking_new_ranges(ready, monkeypatch):
    from bank_scoring.scoring import parallel

    good = score_customers(ready, DAY, partitions=2)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(parallel, "score_partition", broken)  # this process only: the spawned one is unpatched
    finished = []
    with pytest.raises(RuntimeError, match="disk full"):
        score_customers(
            ready,
            DAY,
            partitions=6,
            chunk_rows=100,
            workers=2,
            progress=lambda done, total, counts: finished.append(counts),
        )
    # The spawned process finishes at most the range it had taken; the other four or five wait in vain.
    assert len(finished) <= 1
    assert scalar(ready, "select status from scoring_runs order by run_id desc limit 1") == "failed"
    assert scalar(ready, "select count(distinct run_id) from customer_scores where score_date = :d", d=DAY) == 1
    assert scalar(ready, "select max(run_id) from customer_scores") == good.run_id
    assert scalar(ready, "select count(*) from customer_scores_staging") == 0


def test_a_failure_explaining_the_night_publishes_nothing(ready, monkeypatch):
    """Reason codes are computed beside the night's rows; their failure fails the whole publish."""
    from bank_scoring.scoring import publish

    good = score_customers(ready, DAY)

    def broken(*args, **kwargs):
        raise RuntimeError("model file unreadable")

    monkeypatch.setattr(publish, "reason_rows_for", broken)
    with pytest.raises(RuntimeError, match="unreadable"):
        score_customers(ready, DAY)
    assert scalar(ready, "select status from scoring_runs order by run_id desc limit 1") == "failed"
    assert scalar(ready, "select count(distinct run_id) from customer_scores") == 1
    assert scalar(ready, "select max(run_id) from customer_scores") == good.run_id
    assert scalar(ready, "select count(*) from score_reasons where run_id <> :r", r=good.run_id) == 0
    assert scalar(ready, "select max(run_id) from agent_worklist") == good.run_id


def test_text_values_that_look_like_missing_are_values(ready):
    """'NA' or 'null' is a job title as far as scoring knows; only NULL or blank is missing."""
    with ready.begin() as conn:
        for cid, job, default in ((910001, "NA", False), (910002, "null", None), (910003, "", False)):
            conn.execute(
                text(
                    "insert into customers (customer_id, age, job, marital, education, has_credit_default, balance, "
                    "has_housing_loan, has_personal_loan, contact_channel, campaign, pdays, previous_contacts, "
                    "previous_outcome) values (:c, 40, :j, 'single', 'secondary', :d, 100, true, false, 'cellular', 1, "
                    "-1, 0, 'unknown')"
                ),
                {"c": cid, "j": job, "d": default},
            )
    run = score_customers(ready, DAY, chunk_rows=1000)
    with ready.connect() as conn:
        reasons = dict(
            conn.execute(
                text("select customer_id, reason from scoring_rejects where run_id = :r"), {"r": run.run_id}
            ).all()
        )
    assert reasons == {910002: "has_credit_default is missing", 910003: "job is missing"}
    assert scalar(ready, "select count(*) from customer_scores where customer_id = 910001") == 1


def test_agents_see_the_previous_run_until_publish(ready):
    old = score_customers(ready, DAY - dt.timedelta(days=1))
    run_id = start_run(ready, DAY, partitions=1)
    ((lo, hi),) = plan_partitions(ready, 1)
    score_partition(ready, run_id, lo, hi)
    assert scalar(ready, "select count(distinct run_id) from agent_worklist") == 1
    assert scalar(ready, "select max(run_id) from agent_worklist") == old.run_id
    publish_run(ready, run_id)
    assert scalar(ready, "select max(run_id) from agent_worklist") == run_id
    assert as_date(scalar(ready, "select max(score_date) from agent_worklist")) == DAY


def test_a_crashed_run_of_the_same_date_is_cleaned_up_by_the_next(ready):
    crashed = start_run(ready, DAY)
    ((lo, hi),) = plan_partitions(ready, 1)
    score_partition(ready, crashed, lo, hi)
    assert scalar(ready, "select count(*) from customer_scores_staging") == 3000
    score_customers(ready, DAY)
    assert scalar(ready, "select status from scoring_runs where run_id = :r", r=crashed) == "failed"
    assert scalar(ready, "select count(*) from customer_scores_staging") == 0


def test_score_date_comes_from_the_run_not_the_clock():
    import pendulum

    assert resolve_score_date(None, pendulum.datetime(2026, 3, 1, 2, tz="UTC")) == dt.date(2026, 3, 1)
    assert type(resolve_score_date(None, pendulum.datetime(2026, 3, 1, 2, tz="UTC"))) is dt.date
    assert resolve_score_date("2026-02-02", pendulum.datetime(2026, 3, 1, tz="UTC")) == dt.date(2026, 2, 2)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        resolve_score_date("02/02/2026", None)


def test_partitions_cover_every_customer_once(loaded_engine):
    ranges = plan_partitions(loaded_engine, 7)
    assert len(ranges) == 7
    assert ranges[0][0] == 1 and ranges[-1][1] == 3000
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))


def partitions_of_scores(engine):
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                text(
                    "select c.relname, pg_get_expr(c.relpartbound, c.oid) from pg_inherits i "
                    "join pg_class c on c.oid = i.inhrelid where i.inhparent = 'customer_scores'::regclass"
                )
            ).all()
        )


def test_postgresql_publishes_each_night_as_its_own_partition(pg_trained):
    engine = pg_trained
    first = score_customers(engine, DAY)
    score_customers(engine, DAY - dt.timedelta(days=1))
    assert [name for name, _ in partitions_of_scores(engine)] == [
        "customer_scores_20261127_run2",
        f"customer_scores_20261128_run{first.run_id}",
    ]
    second = score_customers(engine, DAY)  # re-run: its partition replaces the first run's
    parts = partitions_of_scores(engine)
    assert [name for name, _ in parts] == [
        "customer_scores_20261127_run2",
        f"customer_scores_20261128_run{second.run_id}",
    ]
    assert parts[1][1] == "FOR VALUES FROM ('2026-11-28') TO ('2026-11-29')"
    assert scalar(engine, "select to_regclass(:t) is null", t=f"customer_scores_20261128_run{first.run_id}")
    # the partition carries the keys: a second row for a customer and date is refused
    with pytest.raises(Exception, match="duplicate key"):
        with engine.begin() as conn:
            conn.execute(
                text("insert into customer_scores select * from customer_scores where score_date = :d limit 1"),
                {"d": DAY},
            )
    with engine.connect() as conn:
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                text("explain select * from customer_scores where run_id = :r order by rank limit 20"),
                {"r": second.run_id},
            )
        )
    assert "customer_scores_20261128_run" in plan and "Index Scan" in plan
    assert scalar(engine, "select count(*) from agent_worklist") > 0
    # written frozen (COPY FREEZE): no page is left for a later vacuum to rewrite
    pages, visible = scalar_row(
        engine,
        "select relpages, relallvisible from pg_class where oid = to_regclass(:t)",
        t=f"customer_scores_20261128_run{second.run_id}",
    )
    assert pages > 0 and visible == pages
    # never updated once published: both indexes packed full
    night = f"customer_scores_20261128_run{second.run_id}"
    with engine.connect() as conn:
        options = dict(
            conn.execute(
                text(
                    "select i.relname, i.reloptions from pg_index x join pg_class i on i.oid = x.indexrelid "
                    "where x.indrelid = to_regclass(:t)"
                ),
                {"t": night},
            ).all()
        )
    assert options == {f"{night}_pkey": ["fillfactor=100"], f"{night}_run_rank": ["fillfactor=100"]}


def test_postgresql_publish_refuses_a_partly_filled_partition_and_drops_orphans(pg_trained):
    """The night's table is built in committed steps; publish checks it holds the whole run."""
    engine = pg_trained
    run_id = start_run(engine, DAY, partitions=1)
    ((lo, hi),) = plan_partitions(engine, 1)
    score_partition(engine, run_id, lo, hi)
    fresh = f"customer_scores_20261128_run{run_id}"
    params = {"r": run_id, "d": DAY}
    with engine.begin() as conn:  # staged counts as publish_run records them after its check
        conn.execute(text("update scoring_runs set customers_scored = 3000 where run_id = :r"), params)
    with pytest.raises(Exception, match="has no prepared table"):
        with engine.begin() as conn:
            conn.execute(text("select publish_customer_scores(:r, :d)"), params)
    with engine.begin() as conn:
        assert conn.execute(text("select prepare_customer_scores_partition(:r, :d)"), params).scalar() == fresh
        half = conn.execute(
            text(
                f'insert into "{fresh}" (score_date, customer_id, run_id, model_version, propensity, rank, band) '
                "select :d, customer_id, :r, 1, propensity, customer_id, 'A' from customer_scores_staging "
                "where run_id = :r and customer_id % 2 = 0"
            ),
            params,
        ).rowcount
    assert half == 1500
    with pytest.raises(Exception, match="holds 1500 rows, its staging 3000"):
        with engine.begin() as conn:
            conn.execute(text("select publish_customer_scores(:r, :d)"), params)
    assert partitions_of_scores(engine) == []
    # the run dies; the next night's prepare drops its table, and publishing works as usual
    mark_failed(engine, run_id, "test: crashed after the fill")
    with pytest.raises(Exception, match="not a running run"):
        with engine.begin() as conn:
            conn.execute(text("select prepare_customer_scores_partition(:r, :d)"), params)
    assert scalar(engine, "select to_regclass(:t) is not null", t=fresh)
    run = score_customers(engine, DAY)
    assert scalar(engine, "select to_regclass(:t) is null", t=fresh)
    assert [name for name, _ in partitions_of_scores(engine)] == [f"customer_scores_20261128_run{run.run_id}"]
    assert scalar(engine, "select count(distinct rank) from customer_scores where run_id = :r", r=run.run_id) == 3000
    with engine.connect() as conn:  # the key starts with the customer, as init-db declares it
        key = conn.execute(
            text("select pg_get_indexdef(indexrelid) from pg_index where indisprimary and indrelid = to_regclass(:t)"),
            {"t": f"customer_scores_20261128_run{run.run_id}"},
        )
        assert "(customer_id, score_date)" in key.scalar()


def test_postgresql_publish_keeps_a_running_nights_staging_and_empties_the_rest(pg_trained):
    """Publishing empties the staging of everything but a night still running elsewhere."""
    engine = pg_trained
    other = start_run(engine, DAY + dt.timedelta(days=1))  # another night, still being scored
    ((lo, hi),) = plan_partitions(engine, 1)
    score_partition(engine, other, lo, hi)
    mark_failed(engine, other, "test")  # its rows are garbage now...
    with engine.begin() as conn:  # ...as if the failure had not removed them
        conn.execute(
            text(
                "insert into customer_scores_staging (run_id, customer_id, propensity) "
                "values (:r, 1, 0.5), (:r, 2, 0.5)"
            ),
            {"r": other},
        )
    score_customers(engine, DAY)
    assert scalar(engine, "select count(*) from customer_scores_staging") == 0

    running = start_run(engine, DAY + dt.timedelta(days=2))
    score_partition(engine, running, lo, hi)
    run = score_customers(engine, DAY)
    assert run.status == "published" and run.customers_scored == 3000
    assert scalar(engine, "select count(*) from customer_scores_staging where run_id = :r", r=running) == 3000
    assert scalar(engine, "select count(*) from customer_scores_staging") == 3000
    publish_run(engine, running)  # and it publishes whole later
    assert scalar(engine, "select count(*) from customer_scores where run_id = :r", r=running) == 3000


def test_postgresql_streamed_ranks_match_sql_ranking_across_batches(pg_trained, monkeypatch):
    """The partition's rows are ranked while streamed in batches; ranks and bands are SQL's."""
    from bank_scoring.scoring import postgres

    monkeypatch.setattr(postgres, "RANKED_BATCH_ROWS", 7)  # 3,000 rows: 429 batches and a short last one
    run = score_customers(pg_trained, DAY, reason_rows=10)  # the best ten, taken from the first two batches
    with pg_trained.connect() as conn:
        explained = set(
            conn.execute(text("select customer_id from score_reasons where run_id = :r"), {"r": run.run_id}).scalars()
        )
        best = set(
            conn.execute(
                text("select customer_id from customer_scores where run_id = :r and rank <= 10"), {"r": run.run_id}
            ).scalars()
        )
        wrong = conn.execute(
            text(
                "select count(*) from (select rank, band, "
                "row_number() over (order by propensity desc, customer_id) as rn "
                "from customer_scores where run_id = :r) x where rank <> rn"
            ),
            {"r": run.run_id},
        ).scalar()
        bands = conn.execute(
            text(
                "select band, count(*), min(rank), max(rank) from customer_scores "
                "where run_id = :r group by band order by band"
            ),
            {"r": run.run_id},
        ).all()
    assert wrong == 0 and len(best) == 10 and explained == best
    assert [tuple(b) for b in bands] == [
        ("A", 300, 1, 300),
        ("B", 600, 301, 900),
        ("C", 900, 901, 1800),
        ("D", 1200, 1801, 3000),
    ]


def test_postgresql_copy_out_gives_psycopgs_rows_and_survives_errors(pg_url):
    """The one-call-per-row COPY reader: same bytes as psycopg's Copy; a failure leaves the session usable."""
    import psycopg

    from bank_scoring.scoring.postgres import copy_out

    query = "copy (select x, md5(x::text) from generate_series(1, %s) x) to stdout (format {})"
    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as conn:
        for fmt in ("csv", "binary"):
            rows: list[bytes] = []
            copy_out(conn, query.format(fmt), (20_000,), lambda row, rows=rows: rows.append(bytes(row)))
            with conn.cursor() as cur, cur.copy(query.format(fmt), (20_000,)) as copy:
                expected = [bytes(row) for row in copy]
            assert rows == expected and len(rows) == 20_000 + (0 if fmt == "csv" else 1)  # binary: trailer

        with pytest.raises(psycopg.errors.DivisionByZero):  # the server fails half way through
            copy_out(conn, "copy (select 1 / (5000 - x) from generate_series(1, 10000) x) to stdout", (), len)
        conn.rollback()
        assert conn.execute("select 1").fetchone() == (1,)

        seen = []

        def sink(row) -> None:  # the client fails half way through
            seen.append(row)
            if len(seen) == 1000:
                raise RuntimeError("disk full")

        with pytest.raises(RuntimeError, match="disk full"):
            copy_out(conn, query.format("csv"), (1_000_000,), sink)
        conn.rollback()
        assert len(seen) == 1000
        assert conn.execute("select 2").fetchone() == (2,)

        with pytest.raises(psycopg.errors.UndefinedTable):  # refused before any row
            copy_out(conn, "copy (select * from no_such_table) to stdout", (), len)
        conn.rollback()
        assert conn.execute("select 3").fetchone() == (3,)


def test_sqlite_csv_reader_gives_what_the_row_reader_gives_on_awkward_values(sqlite_engine, monkeypatch):
    """Commas, quotes and newlines in text, NULL and blank fields, 'NA', text in a number
    column, a fraction: the CSV built by SQLite reads back to the same validation and features."""
    import pandas as pd

    from bank_scoring.features import feature_frame
    from bank_scoring.scoring import sqlite
    from bank_scoring.validate import customer_reject_reasons

    rows = [
        (1, 40, "technician", "single", "secondary", 0, 100, 1, 0, "cellular", 1, -1, 0, "unknown"),
        (2, 41, 'sales, "senior"\nteam', "married", "tertiary", 1, -5, 0, 1, "telephone", 2, 90, 3, "success"),
        (3, 42, None, "", "  ", 0, 7, None, 0, "cellular", 0, -1, 0, "failure"),
        (4, 43, "NA", "single", "primary", 0, "a,b", 1, 0, "unknown", 1, -1, 0, "other"),
        (5, 40.5, "(NULL)", "divorced", "unknown", 0, 999_999_999, 1, 0, "cellular", 3, 5, 1, "unknown"),
        (6, None, "retired", "married", None, None, None, 0, 0, None, None, None, None, None),
    ]
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql(
            "insert into customers (customer_id, age, job, marital, education, has_credit_default, balance, "
            "has_housing_loan, has_personal_loan, contact_channel, campaign, pdays, previous_contacts, "
            "previous_outcome) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def read(reader):
        with sqlite_engine.connect() as conn:
            return reader(conn).sort_values("customer_id").reset_index(drop=True)

    def via_rows(conn):
        return sqlite.read_rows(conn.connection.driver_connection, 0, 10, 100)

    by_rows = read(via_rows)
    monkeypatch.setattr(sqlite, "read_rows", None)  # the CSV path must not fall back here
    by_csv = read(lambda conn: sqlite.read_chunk(conn, 0, 10, 100))
    assert by_csv["customer_id"].tolist() == [1, 2, 3, 4, 5, 6]
    assert by_csv.loc[1, "job"] == 'sales, "senior"\nteam' and by_csv.loc[4, "job"] == "(NULL)"
    assert by_csv.loc[3, "job"] == "NA"
    reasons = customer_reject_reasons(by_csv)
    assert reasons.tolist() == customer_reject_reasons(by_rows).tolist()
    assert "balance is not a number: a,b" in reasons[3] and "marital is missing" in reasons[2]
    good = (reasons == "").to_numpy()
    assert good.tolist() == [True, True, False, False, True, False]

    def features(frame):
        out = feature_frame(frame[good], "nov", 28, 2026)
        return out.astype({c: object for c in out.columns if isinstance(out[c].dtype, pd.CategoricalDtype)})

    pd.testing.assert_frame_equal(features(by_csv), features(by_rows), check_dtype=False)


def test_sqlite_reader_falls_back_to_rows_for_values_that_are_not_text(sqlite_engine):
    from bank_scoring.scoring import sqlite

    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql(
            "insert into customers (customer_id, age, job, marital, education, has_credit_default, balance, "
            "has_housing_loan, has_personal_loan, contact_channel, campaign, pdays, previous_contacts, "
            "previous_outcome) values (1, 40, ?, 'single', 'secondary', 0, 100, 1, 0, 'cellular', 1, -1, 0, "
            "'unknown'), (2, 40, 'retired', 'single', 'secondary', 0, 100, 1, 0, 'cellular', 1, -1, 0, "
            "'unknown')",
            (b"\xff\xfe",),
        )
    with sqlite_engine.connect() as conn:
        frame = sqlite.read_chunk(conn, 0, 10, 100)
    assert frame["customer_id"].tolist() == [1, 2]
    assert frame["job"].tolist() == [b"\xff\xfe", "retired"]


def test_only_the_backends_know_which_database_they_run_on():
    """Logic modules call the backend interface; the database's name is looked at in one place."""
    from pathlib import Path

    import bank_scoring.scoring as package

    folder = Path(package.__file__).parent
    asking = sorted(p.name for p in folder.glob("*.py") if "dialect" in p.read_text())
    assert asking == ["backend.py"]
