-- users: one row per person who works the list: agents, team leads and admins.
-- capacity is how many leads an agent may hold at once (claims) and their share when a
-- team lead assigns a night by capacity. password_hash is set when the person may log
-- in to the agents' desk; null means the CLI only.
create table if not exists users (
    user_name text primary key,
    role text not null check (role in ('agent', 'team_lead', 'admin')),
    capacity integer not null default 1 check (capacity >= 1),
    is_active boolean not null default true,
    password_hash text,
    created_at timestamp not null default current_timestamp
);
