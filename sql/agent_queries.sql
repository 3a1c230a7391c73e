-- agent_queries: the queries call-centre agents and their tools run, one per use.
-- Parameters are bound by the client (:name), never pasted into the text.

-- The next leads to call, best first.
select rank, customer_id, propensity, band, age, job, marital, balance, contact_channel, previous_outcome
from agent_worklist
order by rank
limit :limit;

-- Only the hottest band.
select rank, customer_id, propensity
from agent_worklist
where band = :band
order by rank
limit :limit;

-- Record what happened on a call; the customer leaves that day's worklist.
insert into call_outcomes (customer_id, score_date, agent_id, outcome, notes)
values (:customer_id, :score_date, :agent_id, :outcome, :notes);

-- Yesterday's conversion by band, for the team lead.
select s.band, count(*) as calls, sum(case when o.outcome = 'subscribed' then 1 else 0 end) as subscribed
from call_outcomes as o
inner join customer_scores as s on o.customer_id = s.customer_id and o.score_date = s.score_date
where o.score_date = :score_date
group by s.band
order by s.band;
