-- scoring_runs: one row per nightly scoring run of a score date.
-- customers_total = scored + rejected + suppressed (customers who objected, never scored).
-- Only a 'published' run is visible to agents; a rerun of the same date supersedes the old one.
create table if not exists scoring_runs (
    run_id integer primary key,
    score_date date not null,
    model_version integer not null references model_versions (model_version),
    status text not null check (status in ('running', 'published', 'failed', 'superseded')),
    partitions integer not null,
    customers_total integer,
    customers_scored integer,
    customers_rejected integer,
    customers_suppressed integer,
    started_at timestamp not null default current_timestamp,
    published_at timestamp,
    seconds double precision,
    error text,
    max_psi double precision,
    drift_alert text,
    field_alert text
);

create index if not exists scoring_runs_score_date on scoring_runs (score_date, status);
