"""The AdminHub in a real browser: sign in, every page, a debate from overview to run details,
the tools form, the leaderboard filters, live updates, a phone-width layout. No console errors."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from agents.models import Panel
from debates.models import DebateSession, DebateStatus
from debates.services import debate_run_now, debate_session_create
from tests.browser.conftest import login, off_loop, shot

pytestmark = [pytest.mark.browser]


@pytest.fixture
def debates(arena: Panel) -> list[DebateSession]:
    """Three real debates on the rules panel (completed, with messages, tool calls and consensus)."""
    return off_loop(
        lambda: [debate_run_now(symbol=s, as_of=dt.date(2024, 3, 1)) for s in ("ACME", "BOLT", "CYAN")]
    )


def test_pages_from_sign_in_to_run_details(page: Page, live_server, operator, debates, console_errors):
    base = live_server.url
    login(page, base)
    expect(page.locator("h1")).to_have_text("Arena overview")
    expect(page.locator("#period-today")).to_contain_text("3 passed")
    expect(page.locator("table.debates tbody tr")).to_have_count(3)
    expect(page.locator("svg.chart-histogram")).to_be_visible()
    shot(page, "overview", doc=True)

    # Follow the newest debate from the overview to its run details.
    newest = debates[-1]
    page.locator("a.debate-link", has_text=f"#{newest.pk}").click()
    page.wait_for_url(f"{base}/hub/debates/{newest.pk}/")
    expect(page.locator("h1")).to_contain_text(f"Debate #{newest.pk} · CYAN")
    expect(page.locator("article.agent")).to_have_count(6)
    expect(page.locator("#consensus")).to_contain_text("Risk checks")
    expect(page.locator("#tool-calls tbody tr")).to_have_count(4)
    details = page.locator("#tool-calls details.result").first
    details.locator("summary").click()
    expect(details.locator("pre")).to_contain_text('"bars"')
    expect(page.locator("svg.chart-timeline")).to_be_visible()
    # the outcomes app's trade, in its own layout: intent, risk checks, broker order
    expect(page.locator("#section-trade #trade-intent")).to_be_visible()
    expect(page.locator("#section-trade #trade-risk li").first).to_contain_text("pass")
    expect(page.locator("#section-trade #trade-order")).to_be_visible()
    expect(page.locator("#costs th", has_text="Tokens in/out").first).to_be_visible()
    shot(page, "run-details", doc=True)

    for path, heading, marker in [
        ("/hub/strategies/", "Strategies", "article.panel"),
        ("/hub/leaderboard/", "Leaderboard", "table.activity"),
        ("/hub/competitions/", "Competitions", "#competitions-empty"),
        ("/hub/tools/", "Tools", "table.tool-stats"),
    ]:
        page.locator(".hub-header nav a", has_text=heading).click()
        page.wait_for_url(f"{base}{path}")
        expect(page.locator("h1")).to_have_text(heading)
        expect(page.locator('.hub-header nav a[aria-current="page"]')).to_have_text(heading)
        expect(page.locator(marker).first).to_be_visible()
        name = heading.lower()
        shot(page, name, doc=name in {"strategies", "leaderboard"})

    # The admin is one click away and carries the same navigation back.
    page.locator(".hub-header nav a", has_text="Admin").click()
    page.wait_for_url(f"{base}/admin/")
    expect(page.locator("#header .arena-nav a", has_text="Overview")).to_be_visible()
    shot(page, "admin", doc=True)
    page.locator("#header .arena-nav a", has_text="API docs").click()
    page.wait_for_url(f"{base}/api/docs/")
    expect(page.locator(".swagger-ui")).to_be_visible()
    page.go_back()
    page.locator("#header .arena-nav a", has_text="Overview").click()
    page.wait_for_url(f"{base}/hub/")
    console_errors.check()


def test_tools_form_runs_a_tool_and_reports_bad_input(
    page: Page, live_server, operator, arena, console_errors
):
    base = live_server.url
    login(page, base, "/hub/tools/")
    page.select_option("#id_tool", "get_bars")
    page.fill("#id_symbol", "acme")
    page.fill("#id_as_of", "2024-03-01")
    page.fill("#id_lookback", "30")
    page.click("form.tool-form button[type=submit]")
    expect(page.locator("#tool-result")).to_contain_text("30 bars")
    expect(page.locator("#tool-result svg.chart-line")).to_be_visible()
    shot(page, "tools-result", doc=True)

    page.select_option("#id_tool", "get_quote")
    page.fill("#id_symbol", "NOPE")
    page.click("form.tool-form button[type=submit]")
    expect(page.locator(".tool-form .notice.error")).to_contain_text("Unknown symbol 'NOPE'.")
    page.fill("#id_symbol", "")
    page.click("form.tool-form button[type=submit]")
    expect(page.locator(".field-error")).to_have_text("get_quote needs a symbol.")
    shot(page, "tools-error")
    assert DebateSession.objects.count() == 0
    console_errors.check()


def test_leaderboard_filters(page: Page, live_server, operator, debates, console_errors):
    base = live_server.url
    login(page, base, "/hub/leaderboard/")
    expect(page.locator("table.activity tbody tr")).to_have_count(6)
    page.select_option("select[name=role]", "bull")
    page.select_option("select[name=window]", "24h")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r".*role=bull.*"))
    expect(page.locator("table.activity tbody tr")).to_have_count(1)
    expect(page.locator("table.activity")).to_contain_text("rules-bull")
    page.fill("input[name=symbol]", "ZZZZ")
    page.click("form.filters button[type=submit]")
    expect(page.locator("#activity-empty")).to_be_visible()
    page.locator("a", has_text="Reset").first.click()
    expect(page.locator("table.activity tbody tr")).to_have_count(6)
    page.locator("th a", has_text="Avg confidence").click()
    page.wait_for_url(re.compile(r".*sort=confidence.*"))
    expect(page.locator('th a[aria-sort="descending"]')).to_have_text("Avg confidence")
    console_errors.check()


def test_running_debates_update_live_without_reload(
    page: Page, live_server, operator, arena, console_errors, settings
):
    settings.ARENA_HUB_POLL_MS = 500
    base = live_server.url
    login(page, base)
    expect(page.locator("#no-active")).to_be_visible()
    page.evaluate("window.__sameDocument = true")

    session = debate_session_create(symbol="DUNE", enqueue=False)  # queued: no worker in this test
    expect(page.locator(f'#active tr[data-session="{session.pk}"]')).to_be_visible(timeout=10_000)
    expect(page.locator("#active")).to_contain_text("waiting for a worker")
    shot(page, "overview-running")

    DebateSession.objects.filter(pk=session.pk).update(status=DebateStatus.CANCELLED)
    expect(page.locator("#no-active")).to_be_visible(timeout=10_000)
    assert page.evaluate("window.__sameDocument") is True  # updated in place, never reloaded
    console_errors.check()


def test_phone_width_has_no_sideways_scroll(page: Page, live_server, operator, debates, console_errors):
    page.set_viewport_size({"width": 390, "height": 844})
    base = live_server.url
    login(page, base)
    for path in (
        "/hub/",
        f"/hub/debates/{debates[0].pk}/",
        "/hub/strategies/",
        "/hub/tools/",
        "/hub/leaderboard/",
    ):
        page.goto(f"{base}{path}")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at phone width"
    page.goto(f"{base}/hub/")
    shot(page, "overview-phone", doc=True)
    console_errors.check()


def test_unknown_debate_gets_a_message_not_a_traceback(
    page: Page, live_server, operator, arena, console_errors
):
    base = live_server.url
    login(page, base)
    response = page.goto(f"{base}/hub/debates/424242/")
    assert response is not None and response.status == 404
    expect(page.locator(".notice")).to_have_text("No debate #424242.")
    shot(page, "not-found")
    # The 404 document itself is logged as a failed resource: expected here, and nothing else.
    assert console_errors == [
        "error: Failed to load resource: the server responded with a status of 404 (Not Found)"
    ]
    console_errors.clear()


def test_profile_admin_actions_test_call_and_duplicate(
    page: Page, live_server, operator, arena, console_errors
):
    base = live_server.url
    login(page, base)
    page.goto(f"{base}/admin/agents/agentprofile/?q=rules-bull")
    page.locator("tr", has_text="rules-bull").locator("input.action-select").first.check()
    page.locator("select[name=action]").select_option("test_call")
    page.locator("button[name=index]").click()
    # (the admin's stylesheet capitalises the first letter of a message)
    expect(page.locator("ul.messagelist li.success")).to_contain_text(
        re.compile(r"rules-bull \(rules/", re.I)
    )
    expect(page.locator("ul.messagelist li.success")).to_contain_text(" ms, ")
    shot(page, "admin-test-call")

    page.locator("tr", has_text="rules-bull").locator("input.action-select").first.check()
    page.locator("select[name=action]").select_option("duplicate")
    page.locator("button[name=index]").click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text(
        "copied as rules-bull (copy) (inactive)"
    )
    console_errors.check()
