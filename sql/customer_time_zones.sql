-- customer_time_zones: one row per time zone the customers are in (a customer without one
-- is in the centre's). Refreshed when a night is published and when a customer's zone is
-- set; calling hours are decided per zone, not per customer. is_valid is false for a name
-- that is not an IANA zone: its customers are never handed out (the preview counts them).
create table if not exists customer_time_zones (
    time_zone text primary key,
    is_valid boolean not null,
    refreshed_at timestamp not null default current_timestamp
);
