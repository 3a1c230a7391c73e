-- contact_policy: why customer c may not be called at :now, or null when they may be.
-- One CASE expression over customers c and their contact_state s (left-joined), the one
-- definition of the contact rules: claims put it in their WHERE clause (in SQL functions
-- on PostgreSQL, from bank_scoring/agents on SQLite) and the preview groups by it. The
-- first rule that holds names the reason. Numbers come from contact_policy_settings and
-- are bound as parameters; :today is the centre's local date, :open_zones the time zones
-- inside calling hours at :now. A null campaign_name is the same as '' (no campaign).
case
    when c.is_do_not_call then 'do_not_call'
    when c.has_objected then 'objected'
    when s.subscribed_campaign = :campaign then 'subscribed'
    when s.campaign_name = :campaign and s.campaign_attempts >= :max_campaign_attempts then 'campaign_attempts'
    when s.declined_at > :declined_since then 'declined'
    when exists (
        select 1 from lead_claims as k
        where k.customer_id = c.customer_id and k.status = 'open' and k.expires_at > :now
    ) then 'claimed'
    when s.attempt_day = :today and s.day_attempts >= :max_day_attempts then 'daily_attempts'
    when s.last_outcome = 'no_answer' and s.last_called_at > :no_answer_since then 'no_answer'
    when s.callback_at > :now then 'callback_later'
    when s.callback_at > :grace_since and s.callback_agent <> :agent then 'callback_for_agent'
    when not ({{zone_is_open}}) then 'calling_hours'
end
