-- harvested_calls: one row per finished call that the harvest (bank_scoring/loop/harvest.py)
-- has dealt with, written in the same transaction as the training row it produced, so a
-- call is harvested exactly once: the key refuses a second row, and a harvest killed in the
-- middle leaves its last batch either whole or absent.
-- status:
--   labelled    the call reached the customer (subscribed/declined): contact_id is its row
--   unreached   no_answer/call_back calls of a campaign that ended without reaching the
--               customer: together they became one row labelled not subscribed (contact_id)
--   superseded  no_answer/call_back followed by a reached call of the same campaign
--               (superseded_by): that call carries the label
--   not_a_label do_not_call: the customer refused contact, not the offer
--   rejected    the call cannot become a training row; reason says why
-- Calls still waiting (no_answer/call_back in a running campaign) have no row yet.
create table if not exists harvested_calls (
    call_outcome_id bigint primary key,
    status text not null
        check (status in ('labelled', 'unreached', 'superseded', 'not_a_label', 'rejected')),
    contact_id bigint,
    superseded_by bigint,
    reason text,
    harvested_at timestamp not null
);

create index if not exists harvested_calls_contact on harvested_calls (contact_id);
