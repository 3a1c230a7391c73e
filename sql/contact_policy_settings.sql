-- contact_policy_settings: the one row of contact rules in force (bank_scoring/agents/policy.py).
-- init-db writes it from configuration; the claims (in SQL on PostgreSQL, in Python on
-- SQLite) and the preview read it from here, so every path applies the same numbers.
-- Calling hours are minutes after local midnight: [window_start_minute, window_end_minute).
create table if not exists contact_policy_settings (
    policy_id integer primary key check (policy_id = 1),
    centre_time_zone text not null,
    window_start_minute integer not null check (window_start_minute between 0 and 1439),
    window_end_minute integer not null check (window_end_minute between 1 and 1440),
    declined_days integer not null check (declined_days >= 0),
    no_answer_hours double precision not null check (no_answer_hours >= 0),
    max_day_attempts integer not null check (max_day_attempts >= 1),
    max_campaign_attempts integer not null check (max_campaign_attempts >= 1),
    callback_grace_minutes integer not null check (callback_grace_minutes >= 0),
    lease_minutes integer not null check (lease_minutes >= 1),
    max_open_claims integer not null check (max_open_claims >= 1),
    updated_at timestamp not null default current_timestamp
);
