-- PostgreSQL: keeps customer_history (sql/customer_history.sql) on every update of
-- customers that changes a model attribute. Applied whole by init_db.
create or replace function customer_history_capture() returns trigger language plpgsql as $$
begin
    insert into customer_history (customer_id, valid_until, age, job, marital, education, has_credit_default,
        balance, has_housing_loan, has_personal_loan, contact_channel, campaign, pdays, previous_contacts,
        previous_outcome)
    values (old.customer_id,
        coalesce(case when new.updated_at is distinct from old.updated_at then new.updated_at end,
                 now() at time zone 'utc'),
        old.age, old.job, old.marital, old.education, old.has_credit_default, old.balance, old.has_housing_loan,
        old.has_personal_loan, old.contact_channel, old.campaign, old.pdays, old.previous_contacts,
        old.previous_outcome);
    return null;
end;
$$;

create or replace trigger customer_history_capture after update on customers for each row
when (old.age is distinct from new.age or old.job is distinct from new.job or old.marital is distinct from new.marital
    or old.education is distinct from new.education or old.has_credit_default is distinct from new.has_credit_default
    or old.balance is distinct from new.balance or old.has_housing_loan is distinct from new.has_housing_loan
    or old.has_personal_loan is distinct from new.has_personal_loan
    or old.contact_channel is distinct from new.contact_channel or old.campaign is distinct from new.campaign
    or old.pdays is distinct from new.pdays or old.previous_contacts is distinct from new.previous_contacts
    or old.previous_outcome is distinct from new.previous_outcome)
execute function customer_history_capture();
