-- run_drift: population stability index of each customer feature and of the score for
-- a published run, against the champion's training data (bank_scoring/monitor.py).
-- Above 0.2 the run's drift_alert names it.
create table if not exists run_drift (
    run_id integer not null references scoring_runs (run_id),
    feature text not null,
    psi double precision not null,
    primary key (run_id, feature)
);
