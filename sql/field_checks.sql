-- field_checks: the daily field check of the model (bank_scoring/loop/field.py), one row
-- per centre-local day and band, plus band 'all' for the day's total. Over the calls that
-- reached the customer (subscribed or declined; each customer once per day and band):
-- actual subscriptions against expected, the sum of the propensities the leads were handed
-- out with, and the interval expected +- z * sqrt(sum p(1 - p)) (the Poisson-binomial
-- spread; z keeps the day's chance of a false alarm over all rows at 5%). off: actual
-- outside the interval with at least min_calls reached calls. A rerun of a day replaces
-- its rows.
create table if not exists field_checks (
    check_day date not null,
    band text not null,
    calls integer not null,
    actual integer not null,
    expected double precision not null,
    variance double precision not null,
    z double precision not null,
    expected_low double precision not null,
    expected_high double precision not null,
    is_off boolean not null,
    run_id integer,
    checked_at timestamp not null,
    primary key (check_day, band)
);
