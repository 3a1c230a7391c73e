-- customer_history: the customers' attributes as they were before each change, so a
-- past call can be joined with the attributes the customer had when it was made (the
-- point-in-time join of bank_scoring/loop/harvest.py). A row is written by a trigger on
-- every update of customers that changes a model attribute (sql/customer_history_trigger_*.sql):
-- it holds the OLD values and valid_until, when they stopped being true (the updated_at
-- the writer set, else the database clock, naive UTC). The attributes at time T are the
-- first row with valid_until > T, or the customers row itself when none is.
-- Inserts (loading customers) write nothing: a new customer has no past.
create table if not exists customer_history (
    history_id {{auto_id}},
    customer_id bigint not null,
    valid_until timestamp not null,
    age integer,
    job text,
    marital text,
    education text,
    has_credit_default boolean,
    balance bigint,
    has_housing_loan boolean,
    has_personal_loan boolean,
    contact_channel text,
    campaign integer,
    pdays integer,
    previous_contacts integer,
    previous_outcome text
);

create index if not exists customer_history_as_of on customer_history (customer_id, valid_until);
