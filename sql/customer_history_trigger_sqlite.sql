-- SQLite: one statement, executed whole by init_db (its body holds a semicolon).
create trigger if not exists customer_history_capture after update on customers for each row
when old.age is not new.age or old.job is not new.job or old.marital is not new.marital
    or old.education is not new.education or old.has_credit_default is not new.has_credit_default
    or old.balance is not new.balance or old.has_housing_loan is not new.has_housing_loan
    or old.has_personal_loan is not new.has_personal_loan or old.contact_channel is not new.contact_channel
    or old.campaign is not new.campaign or old.pdays is not new.pdays
    or old.previous_contacts is not new.previous_contacts or old.previous_outcome is not new.previous_outcome
begin
    insert into customer_history (customer_id, valid_until, age, job, marital, education, has_credit_default,
        balance, has_housing_loan, has_personal_loan, contact_channel, campaign, pdays, previous_contacts,
        previous_outcome)
    values (old.customer_id,
        coalesce(case when new.updated_at is not old.updated_at then new.updated_at end,
                 strftime('%Y-%m-%d %H:%M:%f', 'now')),
        old.age, old.job, old.marital, old.education, old.has_credit_default, old.balance, old.has_housing_loan,
        old.has_personal_loan, old.contact_channel, old.campaign, old.pdays, old.previous_contacts,
        old.previous_outcome);
end
