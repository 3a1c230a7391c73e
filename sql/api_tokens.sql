-- api_tokens: one row per API token a bank system uses to call the desk's API as a user.
-- Only the token's sha256 is kept (a token is 32 random bytes: no slow hash needed); the
-- token itself is shown once, by `bank-scoring users token NAME`.
create table if not exists api_tokens (
    token_sha256 text primary key,
    user_name text not null references users (user_name),
    created_at timestamp not null default current_timestamp,
    revoked_at timestamp
);
