-- customer_objections: one row per objection to direct marketing (GDPR Art. 21) or
-- do-not-call request, with where it came from. The customer's flags change in the same
-- transaction (customers.has_objected, customers.is_do_not_call); this is the record.
create table if not exists customer_objections (
    objection_id {{auto_id}},
    customer_id bigint not null references customers (customer_id),
    kind text not null check (kind in ('objection', 'do_not_call')),
    reason text not null,
    source text not null,
    recorded_at timestamp not null default current_timestamp
);

create index if not exists customer_objections_customer on customer_objections (customer_id);
