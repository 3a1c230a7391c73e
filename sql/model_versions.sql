-- model_versions: the model registry, one row per trained model version.
-- At most one champion at a time (partial unique index).
create table if not exists model_versions (
    model_version integer primary key,
    algorithm text not null,
    params_json text not null,
    feature_columns_json text not null,
    training_fingerprint text not null,
    training_rows integer not null,
    training_positives integer not null,
    holdout_rows integer not null,
    window_start date,
    window_end date,
    roc_auc double precision,
    pr_auc double precision,
    lift_top_decile double precision,
    brier_score double precision,
    metrics_json text not null,
    library_versions_json text not null,
    code_version text not null,
    artifact_path text not null,
    artifact_sha256 text not null,
    status text not null check (status in ('candidate', 'champion', 'retired', 'rejected')),
    created_at timestamp not null default current_timestamp,
    promoted_at timestamp,
    report_path text
);

create unique index if not exists model_versions_one_champion
    on model_versions (status) where status = 'champion';
