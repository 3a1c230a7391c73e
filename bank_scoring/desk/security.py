"""Who is asking: the session or API token, their role, CSRF tokens and the login rate limit.

Sessions are Starlette's signed cookie (itsdangerous, HttpOnly, SameSite=strict, Secure
behind HTTPS); the cookie holds the user's name and the session's CSRF token, nothing else.
A bank system calls the API with ``Authorization: Bearer <token>`` instead
(`bank-scoring users token NAME`); a browser's API call that changes something carries the
CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import defaultdict, deque

from fastapi import HTTPException, Request

from bank_scoring.agents import users
from bank_scoring.agents.errors import AgentError

LOGIN_WINDOW_SECONDS = 300
LOGIN_FAILURES_ALLOWED = 5


class LoginLimiter:
    """At most LOGIN_FAILURES_ALLOWED failed logins per user name and per client address
    in LOGIN_WINDOW_SECONDS; then 429 until the oldest failure leaves the window."""

    def __init__(self, allowed: int = LOGIN_FAILURES_ALLOWED, window: float = LOGIN_WINDOW_SECONDS) -> None:
        self.allowed, self.window = allowed, window
        self._failures: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque:
        found = self._failures[key]
        while found and found[0] <= now - self.window:
            found.popleft()
        return found

    def retry_after(self, name: str, address: str) -> int:
        """Seconds to wait before trying again (0: go ahead)."""
        now = time.monotonic()
        with self._lock:
            waits = [
                int(q[0] + self.window - now) + 1
                for q in (self._recent("u:" + name, now), self._recent("a:" + address, now))
                if len(q) >= self.allowed
            ]
        return max(waits, default=0)

    def failed(self, name: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent("u:" + name, now).append(now)
            self._recent("a:" + address, now).append(now)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop("u:" + name, None)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(request: Request, sent: str | None) -> None:
    expected = request.session.get("csrf")
    # as bytes: compare_digest refuses str with non-ASCII characters (a forged token may have them)
    if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise HTTPException(403, "the form is out of date or not from this site (CSRF token): reload the page")


def current_user(request: Request) -> users.User:
    """The user of this request (session cookie or bearer token), or 401."""
    engine = request.app.state.engine
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = users.user_for_token(engine, header[7:].strip())
        if user is None:
            raise HTTPException(401, "unknown or revoked API token", headers={"WWW-Authenticate": "Bearer"})
        request.state.by_token = True
        return user
    name = request.session.get("user")
    if name:
        try:
            user = users.get_user(engine, name)
        except AgentError:
            user = None
        if user is not None and user.is_active:
            request.state.by_token = False
            return user
        request.session.clear()
    raise HTTPException(401, "log in first", headers={"WWW-Authenticate": "Bearer"})


def require(*roles: str):
    """A dependency: the current user, 403 unless their role is one of ``roles``."""

    def dependency(request: Request) -> users.User:
        user = current_user(request)
        if user.role not in roles:
            raise HTTPException(403, f"this page is for {' or '.join(r.replace('_', ' ') for r in roles)}")
        if request.method not in ("GET", "HEAD") and not getattr(request.state, "by_token", False):
            request.state.needs_csrf = True
        return user

    return dependency


ANYONE = ("agent", "team_lead", "admin")
LEADS = ("team_lead", "admin")
