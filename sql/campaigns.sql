-- campaigns: one row per marketing campaign. Attempt limits count within the campaign a
-- call falls in, and a customer who subscribed is not called again in that campaign.
-- A call on a day no campaign covers belongs to the campaign named '' (no campaign).
create table if not exists campaigns (
    campaign_name text primary key,
    starts_on date not null,
    ends_on date,
    created_at timestamp not null default current_timestamp,
    check (ends_on is null or ends_on >= starts_on)
);
