-- lead_assignments: how each night's pool was drawn beyond the ranking (bank_scoring/loop/control.py).
-- role 'control': a scored customer kept out of the pool and never handed out (a stable
-- hash of the customer id, so the same customers stay control night after night), logged
-- when the run is published;
-- role 'exploration': a customer from below the cut drawn at random (seeded by the score
-- date) and put into the list at pool_rank, a place a control customer left free; its
-- selection_probability is the chance it had to be drawn. Leads without a row here were
-- handed out by rank (probability 1). The exploration rows are replaced whenever a run's pool is
-- refilled, the control rows when the share has changed.
create table if not exists lead_assignments (
    run_id integer not null,
    customer_id bigint not null,
    role text not null check (role in ('control', 'exploration')),
    score_rank integer not null,
    pool_rank integer,
    selection_probability double precision not null,
    primary key (run_id, customer_id)
);

create index if not exists lead_assignments_role on lead_assignments (run_id, role);
