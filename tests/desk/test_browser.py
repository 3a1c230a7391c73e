"""The desk in a real browser: Playwright drives Debian's headless Chromium at 1366×768.

The tests act as the people do: find fields by their labels and buttons by their names,
type, press. The desk is served over HTTP by uvicorn (``live_desk``) on a copy of a
published night; the test moves the app's clock. Each page is screenshotted into the
``screenshots`` folder (``artifacts/screenshots`` or ``$BANK_SCORING_ARTIFACTS/screenshots``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlalchemy import text
from support import require

from .conftest import DAY, PASSWORDS, TOMORROW, at

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("BANK_SCORING_CHROMIUM", "/usr/bin/chromium"))
SCREEN = {"width": 1366, "height": 768}
CUSTOMER = re.compile(r"Customer (\d+)")


@pytest.fixture(scope="module")
def browser():
    require(CHROMIUM.is_file(), f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Debian's chromium, not a download of Playwright's own (there is no internet here).
        found = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield found
        found.close()


@pytest.fixture
def new_page(browser, live_desk):
    """A page in a browser context of its own (its own cookies: one person each)."""
    contexts = []

    def make():
        context = browser.new_context(
            base_url=live_desk.url, viewport=SCREEN, locale="en-GB", timezone_id="Europe/Lisbon"
        )
        context.set_default_timeout(20_000)  # the machine's two cores are shared
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def expect(target):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def shot(page, folder: Path, name: str) -> None:
    page.screenshot(path=folder / f"{name}.png", full_page=True)


def log_in(page, name: str) -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORDS[name])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"{name} (")).to_be_visible()


def take_next_lead(page) -> int:
    """Press "Take the next lead" and return the customer number the page then shows."""
    page.get_by_role("button", name="Take the next lead").click()
    heading = page.get_by_role("heading", level=1, name=CUSTOMER)
    expect(heading).to_be_visible()
    return int(CUSTOMER.search(heading.inner_text()).group(1))


def agents_today(page) -> dict[str, dict[str, str]]:
    """The dashboard's "Agents today" table as the team lead reads it: agent -> column -> value."""
    page.reload()
    table = page.get_by_role("table", name="Agents today")
    header, *rows = table.get_by_role("row").all()
    columns = [c.lower() for c in header.get_by_role("columnheader").all_inner_texts()]
    found = {}
    for row in rows:
        cells = row.get_by_role("cell").all_inner_texts()
        if len(cells) == len(columns):
            found[cells[0]] = dict(zip(columns, cells, strict=True))
    return found


def all_calls(page) -> int:
    """The "All" line of "Today by band": the day's calls."""
    row = page.get_by_role("table", name="Today by band").get_by_role("row").filter(has_text=re.compile(r"^\s*All"))
    return int(row.get_by_role("columnheader").nth(1).inner_text())


def overflow_right(page) -> list[str]:
    """What sticks out to the right of the window or of its section (so is hidden under the next
    section or needs horizontal scrolling), if anything."""
    return page.evaluate(
        """() => {
            const page = document.documentElement, width = page.clientWidth, out = [];
            if (page.scrollWidth > width) out.push(`page ${page.scrollWidth}px wide`);
            for (const e of document.body.querySelectorAll("*")) {
                const box = e.getBoundingClientRect();
                const section = e.closest("section");
                const edge = section && section !== e ? section.getBoundingClientRect().right : width;
                if (box.width && box.right > edge + 1) {
                    const name = e.getAttribute("aria-label") || e.id || e.textContent.trim().slice(0, 30);
                    out.push(`${e.tagName} "${name}" to ${Math.round(box.right)}px, past ${Math.round(edge)}px`);
                }
            }
            return out;
        }"""
    )


def test_an_agent_calls_back_tomorrow_and_the_team_lead_sees_the_counts(new_page, live_desk, screenshots):
    clock = live_desk.clock
    lead, agent = new_page(), new_page()  # tess and ana, each in a browser of their own

    log_in(lead, "tess")
    expect(lead).to_have_url(re.compile(r"/dashboard$"))
    assert all_calls(lead) == 0 and agents_today(lead) == {}
    expect(lead.get_by_text("Nobody has called yet.")).to_be_visible()

    agent.goto("/lead")  # not logged in: the desk sends her to the login page
    expect(agent).to_have_url(re.compile(r"/login$"))
    expect(agent.get_by_role("heading", name="Log in")).to_be_visible()
    shot(agent, screenshots, "01-login")
    log_in(agent, "ana")
    expect(agent).to_have_url(re.compile(r"/lead$"))
    expect(agent.get_by_role("heading", name="No lead in hand")).to_be_visible()
    shot(agent, screenshots, "02-lead-empty")

    called_back = take_next_lead(agent)
    expect(agent.get_by_text("band")).to_be_visible()
    assert overflow_right(agent) == []
    shot(agent, screenshots, "03-lead-taken")
    assert agents_today(lead)["ana"]["leads held"] == "1"

    agent.get_by_label("Call back at").fill(f"{TOMORROW}T10:00")
    agent.get_by_role("button", name="Call back", exact=True).click()
    expect(agent.get_by_role("status")).to_have_text(
        f"Recorded: Call back at {TOMORROW} 10:00 for customer {called_back}."
    )
    expect(agent.get_by_role("heading", name="No lead in hand")).to_be_visible()
    ana = agents_today(lead)["ana"]
    assert (ana["calls"], ana["contacts"], ana["subscribed"], ana["leads held"]) == ("1", "1", "0", "0")
    assert all_calls(lead) == 1

    clock.set(at(10, 5))
    other = take_next_lead(agent)
    assert other != called_back  # the callback left her list
    agent.get_by_label("Notes").fill("Has a deposit elsewhere")
    agent.get_by_role("button", name="Declined").click()
    expect(agent.get_by_role("status")).to_contain_text(f"Declined for customer {other}")
    assert agents_today(lead)["ana"]["calls"] == "2" and all_calls(lead) == 2
    assert overflow_right(lead) == []
    shot(lead, screenshots, "04-dashboard")

    agent.get_by_role("link", name="My day").click()
    expect(agent.get_by_role("heading", name=f"My day, {DAY}")).to_be_visible()
    calls = agent.get_by_role("table", name="My calls")
    expect(calls.get_by_role("row")).to_have_count(3)  # the header and two calls
    expect(calls.get_by_role("cell", name="Has a deposit elsewhere")).to_be_visible()
    assert overflow_right(agent) == []
    shot(agent, screenshots, "05-day")

    # The next morning: a minute early she is given someone else (and gives them back) ...
    clock.set(at(9, 59, day=TOMORROW))
    agent.get_by_role("link", name="Next lead").click()
    early = take_next_lead(agent)
    assert early != called_back
    agent.get_by_role("button", name="Give the lead back").click()
    expect(agent.get_by_role("status")).to_contain_text(f"Customer {early} is back in the pool")

    # ... and at 10:00 the callback customer is hers, marked as a callback.
    clock.set(at(10, day=TOMORROW))
    assert take_next_lead(agent) == called_back
    expect(agent.get_by_role("heading", level=1)).to_have_text(f"Customer {called_back} · callback due")
    shot(agent, screenshots, "06-lead-callback")

    assert agents_today(lead)["ana"]["leads held"] == "1"  # a new day: no call yet today
    assert all_calls(lead) == 0
    expect(lead.get_by_role("heading", level=1)).to_contain_text(f"Today, {TOMORROW}")
    assert overflow_right(lead) == []
    shot(lead, screenshots, "07-dashboard-next-day")

    agent.get_by_role("link", name="Predict").click()
    agent.get_by_label("Age").fill("35")
    agent.get_by_label("Job").select_option("management")
    agent.get_by_label("Housing loan").select_option("no")
    agent.get_by_role("button", name="Predict").click()
    expect(agent.get_by_role("status")).to_contain_text("%")
    assert overflow_right(agent) == []
    shot(agent, screenshots, "08-predict")


def focused(locator) -> bool:
    return locator.evaluate("e => e === document.activeElement")


def tab_to(page, locator, presses: int = 40) -> None:
    """Press Tab until ``locator`` has the focus (as a keyboard user moves through the page)."""
    for _ in range(presses):
        if focused(locator):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{locator} never got the focus in {presses} presses of Tab")


def test_keyboard_alone_logs_in_takes_and_records_a_lead(new_page, screenshots):
    page = new_page()
    page.goto("/login")
    expect(page.get_by_label("User name")).to_be_focused()  # the page starts where typing starts
    page.keyboard.type("ben")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(PASSWORDS["ben"])
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/lead$"))

    take = page.get_by_role("button", name="Take the next lead")
    tab_to(page, take)
    page.keyboard.press("Enter")
    heading = page.get_by_role("heading", level=1, name=CUSTOMER)
    expect(heading).to_be_visible()
    customer = CUSTOMER.search(heading.inner_text()).group(1)
    assert overflow_right(page) == [], "the lead page needs horizontal scrolling at 1366×768"

    tab_to(page, page.get_by_label("Notes"))
    page.keyboard.type("No answer at 10:00, try later")
    no_answer = page.get_by_role("button", name="No answer")
    tab_to(page, no_answer)
    # where the focus is shows: the focus ring of base.html
    assert no_answer.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    shot(page, screenshots, "09-lead-keyboard-focus")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text(f"No answer for customer {customer}")
    expect(page.get_by_role("heading", name="No lead in hand")).to_be_visible()

    tab_to(page, page.get_by_role("link", name="My day"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("cell", name="No answer at 10:00, try later")).to_be_visible()


def test_enter_in_the_call_back_field_records_a_call_back(new_page, live_desk):
    page = new_page()
    log_in(page, "ana")
    customer = take_next_lead(page)
    field = page.get_by_label("Call back at")
    field.fill(f"{TOMORROW}T10:00")
    field.press("Enter")  # not the form's first visible button ("Subscribed")
    expect(page.get_by_role("status")).to_have_text(f"Recorded: Call back at {TOMORROW} 10:00 for customer {customer}.")
    with live_desk.engine.connect() as conn:
        stored = conn.execute(
            text("select outcome, callback_at from call_outcomes where customer_id = :c"), {"c": customer}
        ).one()
    assert stored.outcome == "call_back" and str(stored.callback_at).startswith(f"{TOMORROW} 10:00")
