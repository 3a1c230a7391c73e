"""The agents' side: the contact policy, claims on leads, outcomes, and the team lead's figures.

- ``policy``: who may be called now (sql/contact_policy.sql), the preview;
- ``claims``: next lead, record an outcome, release (``claims_sqlite`` / ``claims_postgres``);
- ``pool``: the night's leads, filled at publish;
- ``customers``: objections and time zones; ``users``: who works the list;
- ``leads``: what an agent sees of a lead; ``figures``: the team lead's day.
"""
