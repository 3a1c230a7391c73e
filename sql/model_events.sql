-- model_events: append-only history of registry decisions, one row per decision
-- (registered, promoted, rejected, retired), with who made it and why.
create table if not exists model_events (
    model_event_id {{auto_id}},
    model_version integer not null references model_versions (model_version),
    event text not null check (event in ('registered', 'promoted', 'rejected', 'retired')),
    reason text not null,
    actor text not null,
    created_at timestamp not null default current_timestamp
);
