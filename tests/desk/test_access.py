"""Who may do what on the desk: sessions, roles, claims, CSRF, cookies, the login limit, bad input.

FastAPI's TestClient on a SQLite copy of the night, a few checks over real HTTP
(``live_desk``), and the record/claim path of the API once on PostgreSQL.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from bank_scoring.agents.users import new_api_token
from bank_scoring.desk import security
from bank_scoring.desk.app import SESSION_COOKIE, create_app

from .conftest import PASSWORDS, SECRET_KEY, TOMORROW, Clock, at, csrf_of, give_passwords, log_in

# Open to anyone: the login form (behind its CSRF token) and the API's description.
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/docs/oauth2-redirect"),
}
INJECTIONS = [
    "'; drop table customers; --",
    "<script>alert(1)</script>",
    '" or 1=1 --',
    "Robert'); delete from call_outcomes where ('1'='1",
    "{{ 7 * 7 }} ${7*7}",
    "nul\x00byte",
    "ünïcödé ☎ 电话 \u202eevil",
    "x" * 1999 + "'",
    "y" * 5000,
]
TABLES = ("customers", "users", "call_outcomes", "lead_claims", "lead_pool", "customer_scores", "api_tokens")


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"select count(*) from {t}")).scalar() for t in TABLES}


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def every_route(app) -> list[tuple[str, str]]:
    """(method, path) of each route, path parameters filled with plausible values."""
    found = []
    for route in app.routes:
        path = route.path.replace("{customer_id}", "1").replace("{version}", "1").replace("{name:path}", "index.html")
        found += [(method, path) for method in sorted(route.methods - {"HEAD"})]
    return found


@pytest.fixture
def client(desk_app):
    with TestClient(desk_app) as found:
        yield found


@pytest.fixture
def anyone(desk_app):
    """A second browser: no session unless the test logs it in."""
    with TestClient(desk_app) as found:
        yield found


def bearer(engine, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {new_api_token(engine, name)}"}


def test_every_route_refuses_a_caller_without_a_session(desk_app, client):
    routes = every_route(desk_app)
    assert len(routes) >= 25 and PUBLIC <= set(routes)
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        for headers in ({}, {"Authorization": "Bearer bst_not-a-token"}):
            answer = client.request(method, path, headers=headers, follow_redirects=False)
            where = f"{method} {path} {headers}"
            assert answer.status_code != 200, where
            if path.startswith("/api"):
                assert answer.status_code == 401, where
                assert answer.json()["error"] and answer.headers["www-authenticate"] == "Bearer", where
            elif path == "/logout":
                assert answer.status_code == 403, where  # nobody's session: the CSRF check refuses it
            else:
                assert (answer.status_code, answer.headers.get("location")) == (303, "/login"), where
    # the public ones show no data
    assert client.get("/login").status_code == 200
    assert "paths" in client.get("/api/openapi.json").json()
    assert client.post("/login", data={"username": "ana", "password": PASSWORDS["ana"]}).status_code == 403


def test_every_route_refuses_an_anonymous_caller_over_http(live_desk):
    with httpx.Client(base_url=live_desk.url, follow_redirects=False, timeout=30) as http:
        for method, path in every_route(live_desk.app):
            if (method, path) in PUBLIC:
                continue
            answer = http.request(method, path)
            assert answer.status_code in (401, 303, 403), f"{method} {path}: {answer.status_code}"
        assert http.get("/lead").headers["location"] == "/login"
        assert http.post("/api/v1/leads/next").status_code == 401


def test_refusals_answer_in_kind_json_for_the_api_a_page_for_people(desk_engine, client):
    log_in(client, "ana")
    auth = bearer(desk_engine, "ana")
    for method, path, status in (("GET", "/api/v1/nothing", 404), ("DELETE", "/api/v1/runs", 405)):
        answer = client.request(method, path, headers=auth)
        assert answer.status_code == status and set(answer.json()) == {"error", "field"}, path
    bad_json = client.post(
        "/api/v1/predict", content=b"\xff{not utf-8", headers={**auth, "Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["error"] == "There was an error parsing the body"
    too_big = client.post("/api/v1/leads/99999999999999999999/release", headers=auth)
    assert too_big.status_code == 422 and too_big.json()["field"] == "customer_id"
    page = client.get("/nothing")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/v1/worklist", "/api/v1/figures", "/api/v1/preview"])
def test_an_agent_is_refused_the_team_leads_api(desk_engine, client, anyone, path):
    log_in(client, "ana")
    assert client.get(path).status_code == 403
    assert anyone.get(path, headers=bearer(desk_engine, "ana")).status_code == 403
    refused = client.get(path).json()
    assert refused["error"] == "this page is for team lead or admin"
    log_in(anyone, "tess")
    assert anyone.get(path).status_code == 200


def test_an_agent_is_refused_the_dashboard(client, anyone):
    log_in(client, "ana")
    page = client.get("/dashboard")
    assert page.status_code == 403 and "this page is for team lead or admin" in page.text
    log_in(anyone, "tess")
    assert anyone.get("/dashboard").status_code == 200


def test_an_agent_cannot_record_or_release_another_agents_claim(desk_engine, client, anyone):
    token = log_in(client, "ana")
    lead = client.post("/api/v1/leads/next", headers={"X-CSRF-Token": token}).json()["lead"]
    customer = lead["customer_id"]
    before = counts(desk_engine)
    ben_token = log_in(anyone, "ben")
    for headers in ({"X-CSRF-Token": ben_token}, bearer(desk_engine, "ben")):
        recorded = anyone.post(f"/api/v1/leads/{customer}/outcome", json={"outcome": "subscribed"}, headers=headers)
        assert recorded.status_code == 409 and "holds no claim" in recorded.json()["error"]
        released = anyone.post(f"/api/v1/leads/{customer}/release", headers=headers)
        assert released.status_code == 409
    # the page's forms: back to ben's page with the refusal, nothing written
    form = anyone.post(
        f"/lead/{customer}/record", data={"outcome": "declined", "csrf": ben_token}, headers={"Referer": "/lead"}
    )
    assert form.status_code == 200 and "holds no claim" in form.text
    anyone.post(f"/lead/{customer}/release", data={"csrf": ben_token})
    assert counts(desk_engine) == before | {"api_tokens": before["api_tokens"] + 1}
    assert scalar(desk_engine, "select agent_id from lead_claims where status = 'open'") == "ana"
    # ana's own record goes through
    done = client.post(
        f"/api/v1/leads/{customer}/outcome", json={"outcome": "declined"}, headers={"X-CSRF-Token": token}
    )
    assert done.status_code == 200 and done.json()["agent_id"] == "ana"


def test_a_change_needs_the_sessions_csrf_token_but_a_bearer_token_needs_none(desk_engine, client, anyone):
    token = log_in(client, "ana")
    other = log_in(anyone, "ben")
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": other}):
        refused = client.post("/api/v1/leads/next", headers=headers)
        assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    for data in ({}, {"csrf": "forged"}, {"csrf": other}):
        assert client.post("/lead/next", data=data, follow_redirects=False).status_code == 403
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert counts(desk_engine)["lead_claims"] == 0
    with TestClient(client.app) as system:  # a bank system: no cookie, no CSRF token
        taken = system.post("/api/v1/leads/next", headers=bearer(desk_engine, "ana"))
    assert taken.status_code == 200 and taken.json()["lead"]["agent_id"] == "ana"
    # a GET changes nothing and needs no token; the session's own token works
    assert client.get("/api/v1/runs").status_code == 200
    assert client.post("/logout", data={"csrf": token}, follow_redirects=False).headers["location"] == "/login"
    assert client.get("/lead", follow_redirects=False).status_code == 303


def test_the_session_cookie_is_httponly_samesite_strict_and_signed(desk_engine, desk_app, live_desk):
    with httpx.Client(base_url=live_desk.url, follow_redirects=False, timeout=30) as http:
        form = http.get("/login")
        logged = http.post("/login", data={"username": "ana", "password": PASSWORDS["ana"], "csrf": csrf_of(form.text)})
        assert logged.status_code == 303
        for answer in (form, logged):
            cookie = answer.headers["set-cookie"].lower()
            assert cookie.startswith(SESSION_COOKIE + "=") and "httponly" in cookie and "samesite=strict" in cookie
            assert "secure" not in cookie  # plain HTTP here; behind HTTPS see below
            assert PASSWORDS["ana"] not in answer.headers["set-cookie"]
        assert logged.headers["x-frame-options"] == "DENY" and logged.headers["x-content-type-options"] == "nosniff"
        assert http.get("/lead").status_code == 200
        value = http.cookies[SESSION_COOKIE]
        http.cookies.set(SESSION_COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
        assert http.get("/lead").headers["location"] == "/login"  # a tampered cookie is no session
    with TestClient(create_app(desk_engine, SECRET_KEY, https_only=True), base_url="https://testserver") as tls:
        assert "secure" in tls.get("/login").headers["set-cookie"].lower()


def test_login_is_rate_limited(desk_app, client, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(security, "time", SimpleNamespace(monotonic=lambda: now[0]))
    token = csrf_of(client.get("/login").text)

    def attempt(name, password):
        data = {"username": name, "password": password, "csrf": token}
        return client.post("/login", data=data, follow_redirects=False).status_code

    assert [attempt("ana", f"wrong-{i}") for i in range(5)] == [401] * 5
    assert attempt("ana", "wrong-5") == 429
    assert attempt("ana", PASSWORDS["ana"]) == 429  # even the right password, until the window passes
    page = client.post("/login", data={"username": "ana", "password": PASSWORDS["ana"], "csrf": token})
    assert re.search(r"Too many failed logins: try again in 30\d s", page.text)
    assert attempt("ben", PASSWORDS["ben"]) == 429  # the same address is held back too
    now[0] += security.LOGIN_WINDOW_SECONDS + 1
    assert attempt("ana", PASSWORDS["ana"]) == 303


def test_the_login_limit_over_http(live_desk):
    with httpx.Client(base_url=live_desk.url, follow_redirects=False, timeout=30) as http:
        token = csrf_of(http.get("/login").text)
        tries = [
            http.post("/login", data={"username": "ben", "password": "not-his-password", "csrf": token}).status_code
            for _ in range(6)
        ]
        assert tries == [401] * 5 + [429]


# --- Bad input: refused with 4xx or stored verbatim, never a 5xx, the tables intact. ---


def refused_or_ok(answer, where: str) -> bool:
    """True when stored (2xx/3xx), False when refused (4xx); a 5xx fails the test."""
    assert answer.status_code < 500, f"{where}: {answer.status_code} {answer.text[:300]}"
    return answer.status_code < 400


def test_injection_in_notes_is_stored_verbatim_and_shown_escaped(desk_engine, client, clock):
    token = log_in(client, "ana")
    before = counts(desk_engine)
    stored = []
    for i, value in enumerate(INJECTIONS * 2):
        clock.set(at(10, i))
        customer = client.post("/api/v1/leads/next", headers={"X-CSRF-Token": token}).json()["lead"]["customer_id"]
        if i < len(INJECTIONS):  # the API
            answer = client.post(
                f"/api/v1/leads/{customer}/outcome",
                json={"outcome": "declined", "notes": value},
                headers={"X-CSRF-Token": token},
            )
        else:  # the lead page's form
            answer = client.post(
                f"/lead/{customer}/record",
                data={"outcome": "declined", "notes": value, "csrf": token},
                follow_redirects=False,
            )
        if refused_or_ok(answer, f"notes {value[:40]!r}"):
            if answer.status_code == 303:
                assert client.get("/lead").text.count("Recorded: Declined") == 1
            got = scalar(desk_engine, "select notes from call_outcomes where customer_id = :c", c=customer)
            assert got == value, f"{value[:40]!r} came back as {got[:40]!r}"
            stored.append(value)
        else:  # too long, or a NUL character (which PostgreSQL cannot store): refused on either database
            assert len(value) > 2000 or "\x00" in value, f"{value[:40]!r} refused: {answer.text[:200]}"
            assert answer.status_code == 422
            client.post(f"/api/v1/leads/{customer}/release", headers={"X-CSRF-Token": token})
    assert len(stored) == 2 * (len(INJECTIONS) - 2)
    day = client.get("/day").text
    assert "<script>alert(1)</script>" not in day and "&lt;script&gt;alert(1)&lt;/script&gt;" in day
    assert "{{ 7 * 7 }}" in day and ">49<" not in day
    assert "&#39;; drop table customers; --" in day
    after = counts(desk_engine)
    assert after["customers"] == before["customers"] == 3000
    assert after["call_outcomes"] == before["call_outcomes"] + len(stored)
    assert set(inspect(desk_engine).get_table_names()) >= set(TABLES)


def page_forms(customer: int) -> list[tuple[str, dict]]:
    """Each form of the pages with valid values (but the notes: see the test above)."""
    predict = {
        "age": "40",
        "job": "technician",
        "marital": "single",
        "education": "tertiary",
        "default": "no",
        "balance": "1000",
        "housing": "no",
        "loan": "no",
    }
    return [
        ("/login", {"username": "ana", "password": PASSWORDS["ana"]}),
        ("/lead/next", {}),
        (f"/lead/{customer}/record", {"outcome": "call_back", "callback_at": f"{TOMORROW}T10:00"}),
        (f"/lead/{customer}/release", {}),
        ("/predict", predict),
        ("/logout", {}),
    ]


def json_bodies(customer: int) -> list[tuple[str, dict]]:
    predict = {
        "age": 40,
        "job": "technician",
        "marital": "single",
        "education": "tertiary",
        "has_credit_default": False,
        "balance": 1000,
        "has_housing_loan": False,
        "has_personal_loan": False,
        "contact_channel": "cellular",
        "campaign": 1,
        "pdays": -1,
        "previous_contacts": 0,
        "previous_outcome": "unknown",
        "call_date": "2026-11-28",
    }
    tutorial = {
        "age": 40,
        "job": "technician",
        "marital": "single",
        "education": "tertiary",
        "default": "no",
        "balance": 1000,
        "housing": "no",
        "loan": "no",
    }
    return [
        (f"/api/v1/leads/{customer}/outcome", {"outcome": "call_back", "callback_at": f"{TOMORROW}T10:00"}),
        ("/api/v1/predict", predict),
        ("/api", tutorial),
    ]


def test_injection_in_every_other_field_is_refused_and_changes_nothing(desk_app, desk_engine, client, anyone):
    token = log_in(client, "ana")
    customer = client.post("/api/v1/leads/next", headers={"X-CSRF-Token": token}).json()["lead"]["customer_id"]
    before = counts(desk_engine)
    tried = 0
    for value in INJECTIONS:
        for path, form in page_forms(customer):
            for field in [*form, "csrf"]:
                desk_app.state.limiter = security.LoginLimiter()  # failed logins must not block the next try
                data = {**form, "csrf": token, field: value}
                who = anyone if path == "/login" else client  # logging in again would end ana's session
                if who is anyone:
                    data["csrf"] = value if field == "csrf" else csrf_of(anyone.get("/login").text)
                answer = who.post(path, data=data, follow_redirects=False)
                tried += 1
                if refused_or_ok(answer, f"{path} {field}={value[:40]!r}"):
                    # only the lead's forms answer a refusal with a redirect: to the lead page, which shows it
                    assert path.startswith("/lead/") and answer.headers["location"] == "/lead", (path, field)
                    shown = who.get("/lead").text
                    assert "<script>alert(1)</script>" not in shown and "Recorded" not in shown
        for path, body in json_bodies(customer):
            for field in body:
                answer = client.post(path, json={**body, field: value}, headers={"X-CSRF-Token": token})
                tried += 1
                assert 400 <= answer.status_code < 500, f"{path} {field}={value[:40]!r}: {answer.status_code}"
                assert answer.json()["field"] in (field, None) or field in answer.json()["error"]
        for path in (
            f"/api/v1/worklist?band={quote(value)}",
            f"/api/v1/worklist?limit={quote(value)}",
            f"/api/v1/runs?limit={quote(value)}",
            f"/api/v1/figures?date={quote(value)}",
            f"/api/v1/leads/{quote(value, safe='')}/release",
            f"/lead/{quote(value, safe='')}/record",
        ):
            answer = client.request("POST" if path.endswith(("release", "record")) else "GET", path)
            tried += 1
            assert 400 <= answer.status_code < 500, f"{path[:60]}: {answer.status_code}"
    assert tried > 300
    # nobody got in, nothing was recorded, ana's claim is untouched
    assert counts(desk_engine) == before
    assert scalar(desk_engine, "select status from lead_claims where customer_id = :c", c=customer) == "open"
    assert client.get("/lead").text.count(f"Customer {customer}") == 1


def test_a_model_report_serves_its_own_folder_only(desk_engine, client, anyone, tmp_path):
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "index.html").write_text("<h1>model v1</h1>")
    (tmp_path / "secret.txt").write_text("not for the desk")
    with desk_engine.begin() as conn:
        conn.execute(text("update model_versions set report_path = :p"), {"p": str(folder / "index.html")})
    log_in(client, "ana")
    assert client.get("/models/1/report/index.html").text == "<h1>model v1</h1>"
    assert anyone.get("/models/1/report/index.html", follow_redirects=False).status_code == 303
    for name in ("../secret.txt", "..%2Fsecret.txt", "%2e%2e/secret.txt", str(tmp_path / "secret.txt"), "x%00"):
        answer = client.get(f"/models/1/report/{name}")
        assert answer.status_code in (400, 404) and "not for the desk" not in answer.text, name


# --- PostgreSQL: the record/claim path of the API. ---


def test_the_claim_and_record_path_on_postgresql(pg_night):
    give_passwords(pg_night)
    clock = Clock(at(10))
    app = create_app(pg_night, SECRET_KEY, clock=clock)
    ana, ben = bearer(pg_night, "ana"), bearer(pg_night, "ben")
    with TestClient(app) as http:
        before = counts(pg_night)
        stored = 0
        for i, value in enumerate(INJECTIONS):
            clock.set(at(10, i))
            lead = http.post("/api/v1/leads/next", headers=ana).json()["lead"]
            customer = lead["customer_id"]
            assert (
                http.post(f"/api/v1/leads/{customer}/outcome", json={"outcome": "declined"}, headers=ben).status_code
                == 409
            )
            assert http.post(f"/api/v1/leads/{customer}/release", headers=ben).status_code == 409
            answer = http.post(
                f"/api/v1/leads/{customer}/outcome", json={"outcome": "declined", "notes": value}, headers=ana
            )
            if refused_or_ok(answer, f"PostgreSQL notes {value[:40]!r}"):
                got = scalar(pg_night, "select notes from call_outcomes where customer_id = :c", c=customer)
                assert got == value
                stored += 1
            else:
                assert http.post(f"/api/v1/leads/{customer}/release", headers=ana).status_code == 200
        assert stored == len(INJECTIONS) - 2  # as on SQLite: the NUL and the 5,000 characters are refused
        callback = http.post("/api/v1/leads/next", headers=ana).json()["lead"]["customer_id"]
        done = http.post(
            f"/api/v1/leads/{callback}/outcome",
            json={"outcome": "call_back", "callback_at": f"{TOMORROW}T10:00:00"},
            headers=ana,
        ).json()
        assert done["callback_at"] == f"{TOMORROW}T10:00:00Z"  # stored as UTC, and said so
        clock.set(at(10, day=TOMORROW))
        back = http.post("/api/v1/leads/next", headers=ana).json()["lead"]
        assert back["customer_id"] == callback and back["is_callback"]
        # a NUL byte in a login is refused, not a database error
        token = csrf_of(http.get("/login").text)
        login = http.post("/login", data={"username": "ana\x00", "password": PASSWORDS["ana"], "csrf": token})
        assert 400 <= login.status_code < 500
        after = counts(pg_night)
        assert after["customers"] == before["customers"] and after["users"] == before["users"]
        assert after["call_outcomes"] == before["call_outcomes"] + stored + 1  # and the callback
