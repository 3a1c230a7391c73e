-- scoring_profiles: per scoring partition, how its customers fall into the bins of the
-- champion's training profile (JSON counts); publish adds them up for run_drift.
create table if not exists scoring_profiles (
    run_id integer not null references scoring_runs (run_id),
    low_id bigint not null,
    high_id bigint not null,
    counts_json text not null,
    primary key (run_id, low_id)
);
