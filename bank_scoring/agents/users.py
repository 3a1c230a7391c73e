"""The people who work the list: agents, team leads and admins, with their passwords."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from sqlalchemy import Engine, text

from bank_scoring.agents import errors

ROLES = ("agent", "team_lead", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# scrypt, a memory-hard key-derivation function from the standard library: about 50 ms
# and 16 MiB a try, so a stolen table is slow to attack.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True)
class User:
    user_name: str
    role: str
    capacity: int
    is_active: bool
    can_log_in: bool


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def password_matches(stored: str | None, password: str) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt, digest = stored.split("$")
    tried = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32, **_SCRYPT)
    return hmac.compare_digest(tried, base64.b64decode(digest))


def add_user(engine: Engine, name: str, role: str, capacity: int = 1, password: str | None = None) -> User:
    """Create (or update the role, capacity and password of) a user."""
    if not _NAME.match(name or ""):
        raise errors.UnknownAgent(
            f"user name {name!r} must be 1-63 letters, digits, dots, dashes or underscores, starting with one "
            "letter or digit"
        )
    if role not in ROLES:
        raise errors.UnknownAgent(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if capacity < 1:
        raise errors.UnknownAgent("capacity must be at least 1")
    if password is not None and len(password) < 8:
        raise errors.UnknownAgent("a password needs at least 8 characters")
    hashed = hash_password(password) if password is not None else None
    with engine.begin() as conn:
        conn.execute(
            text(
                "insert into users (user_name, role, capacity, password_hash) values (:n, :r, :c, :h) "
                "on conflict (user_name) do update set role = excluded.role, capacity = excluded.capacity, "
                "is_active = true, password_hash = coalesce(excluded.password_hash, users.password_hash)"
            ),
            {"n": name, "r": role, "c": capacity, "h": hashed},
        )
    return get_user(engine, name)


def get_user(engine: Engine, name: str) -> User:
    with engine.connect() as conn:
        row = conn.execute(
            text("select user_name, role, capacity, is_active, password_hash from users where user_name = :n"),
            {"n": name},
        ).first()
    if row is None:
        raise errors.UnknownAgent(f"no user {name!r}")
    return User(row.user_name, row.role, int(row.capacity), bool(row.is_active), row.password_hash is not None)


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("select user_name, role, capacity, is_active, password_hash from users order by role, user_name")
        ).all()
    return [User(r.user_name, r.role, int(r.capacity), bool(r.is_active), r.password_hash is not None) for r in rows]


def authenticate(engine: Engine, name: str, password: str) -> User | None:
    """The active user whose password this is, or None (the same work either way)."""
    with engine.connect() as conn:
        row = conn.execute(
            text("select password_hash from users where user_name = :n and is_active"), {"n": name}
        ).first()
    stored = row.password_hash if row else None
    if stored is None:
        password_matches(_DUMMY, password)  # as slow as a real check: no timing hint that a name exists
        return None
    return get_user(engine, name) if password_matches(stored, password) else None


def new_api_token(engine: Engine, name: str) -> str:
    """A new API token for ``name`` (shown once; only its sha256 is stored)."""
    user = get_user(engine, name)
    token = "bst_" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    with engine.begin() as conn:
        conn.execute(
            text("insert into api_tokens (token_sha256, user_name) values (:h, :n)"),
            {"h": hashlib.sha256(token.encode()).hexdigest(), "n": user.user_name},
        )
    return token


def user_for_token(engine: Engine, token: str) -> User | None:
    with engine.connect() as conn:
        name = conn.execute(
            text(
                "select t.user_name from api_tokens as t inner join users as u on u.user_name = t.user_name "
                "where t.token_sha256 = :h and t.revoked_at is null and u.is_active"
            ),
            {"h": hashlib.sha256(token.encode()).hexdigest()},
        ).scalar()
    return get_user(engine, name) if name else None


_DUMMY = "scrypt$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
