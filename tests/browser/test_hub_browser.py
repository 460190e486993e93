"""The AdminHub in a real browser: sign in, every page, a debate from overview to run details,
the tools form, the leaderboard filters, live updates, a phone-width layout. No console errors."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from agents.models import Panel
from competition.models import CompetitionRun, TraderProfile
from competition.services.engine import competition_backtest_advance
from competition.services.runs import competition_run_claim, competition_run_create
from competition.services.traders import trader_profile_create
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
        shot(page, name, doc=name == "strategies")

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
    page.locator("#activity th a", has_text="Avg confidence").click()
    page.wait_for_url(re.compile(r".*activity_sort=confidence.*"))
    expect(page.locator('#activity th a[aria-sort="descending"]')).to_have_text("Avg confidence")
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
        "/hub/competitions/",
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


# --- competitions and the leaderboard's rankings ------------------------------------------------


@pytest.fixture
def trader(arena: Panel) -> TraderProfile:
    return off_loop(lambda: trader_profile_create(name="steady", panel=arena, sizing_fraction=Decimal("0.2")))


def test_start_a_small_competition_from_the_form_and_follow_it(
    page: Page, live_server, operator, trader, console_errors
):
    base = live_server.url
    login(page, base, "/hub/competitions/")
    expect(page.locator("#competitions-empty")).to_be_visible()
    page.check("input[name=traders][value=steady]")
    page.fill("#id_symbols", "ACME")
    page.fill("#id_start", "2024-03-04")
    page.fill("#id_end", "2024-03-08")  # five trading days
    page.fill("#id_name", "browser <run>")
    shot(page, "competitions-form")
    page.click("#estimate-button")
    expect(page.locator("#estimate")).to_contain_text("Step 2 of 2")
    expect(page.locator("#estimate-cost")).to_have_text("$0.00")
    expect(page.locator("#budget-verdict")).to_contain_text("within budget")
    shot(page, "competitions-estimate", doc=True)

    # Confirm: the run is queued and (tasks run inline in the tests) completes before the redirect.
    page.click("#confirm-start")
    page.wait_for_url(re.compile(rf"{base}/hub/competitions/\d+/$"))
    expect(page.locator(".messages")).to_contain_text("queued")
    expect(page.locator("h1")).to_contain_text("browser <run>")  # escaped, shown as text
    expect(page.locator("#run-status-badge")).to_have_text("Completed")
    expect(page.locator("table.scores tbody tr")).to_have_count(3)
    expect(page.locator("#equity svg.chart-line polyline")).to_have_count(3)
    shot(page, "competition", doc=True)

    # From a decision to the debate behind it.
    page.locator("#decisions a.debate-link").first.click()
    page.wait_for_url(re.compile(rf"{base}/hub/debates/\d+/$"))
    expect(page.locator("article.agent").first).to_be_visible()

    page.goto(f"{base}/hub/competitions/")
    expect(page.locator("table.competition-runs tbody tr")).to_have_count(1)
    expect(page.locator("table.competition-runs")).to_contain_text("5/5 days")
    shot(page, "competitions", doc=True)
    run_url = page.locator("a.run-link").first.get_attribute("href")

    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/hub/competitions/", run_url, "/hub/leaderboard/?window=all"):
        page.goto(f"{base}{path}")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at phone width"
    shot(page, "leaderboard-phone")
    console_errors.check()


def test_competition_form_shows_bad_input_as_messages(
    page: Page, live_server, operator, trader, console_errors
):
    base = live_server.url
    login(page, base, "/hub/competitions/")
    page.check("input[name=traders][value=steady]")
    page.fill("#id_symbols", "ZZZZ")
    page.fill("#id_start", "2024-03-08")
    page.fill("#id_end", "2024-03-04")
    page.click("#estimate-button")
    expect(page.locator(".messages")).to_contain_text("The run was not started")
    expect(page.locator("#field-symbols .field-error")).to_contain_text("Unknown symbol(s): ZZZZ.")
    shot(page, "competitions-errors")
    assert off_loop(lambda: CompetitionRun.objects.count()) == 0
    console_errors.check()


def test_competition_progress_updates_live_without_reload(
    page: Page, live_server, operator, trader, console_errors, settings
):
    settings.ARENA_HUB_POLL_MS = 500
    run = off_loop(
        lambda: competition_run_create(
            traders=[trader],
            symbols=["ACME"],
            start=dt.date(2024, 3, 4),
            end=dt.date(2024, 3, 8),
            seed=3,
            enqueue=False,
        )
    )
    base = live_server.url
    login(page, base, f"/hub/competitions/{run.pk}/")
    expect(page.locator("#waiting-worker")).to_be_visible()
    expect(page.locator("#scores-empty")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    shot(page, "competition-queued")

    def work() -> None:
        competition_run_claim(run_id=run.pk)
        competition_backtest_advance(run_id=run.pk)

    off_loop(work)
    expect(page.locator("#run-status-badge")).to_have_text("Completed", timeout=10_000)
    expect(page.locator("table.scores tbody tr")).to_have_count(3)
    assert page.evaluate("window.__sameDocument") is True  # updated in place, never reloaded
    console_errors.check()


def test_leaderboard_rankings_filter_and_sort(page: Page, live_server, operator, trader, console_errors):
    def finished() -> None:
        run = competition_run_create(
            traders=[trader],
            symbols=["ACME"],
            start=dt.date(2024, 3, 4),
            end=dt.date(2024, 3, 15),
            enqueue=False,
        )
        competition_run_claim(run_id=run.pk)
        competition_backtest_advance(run_id=run.pk)

    off_loop(finished)
    base = live_server.url
    login(page, base, "/hub/leaderboard/")
    expect(page.locator("table.leaderboard tbody tr")).to_have_count(6)
    expect(page.locator("#chart-cost-hit svg.chart-scatter")).to_be_visible()
    expect(page.locator("#chart-calibration svg line.reference")).to_be_attached()
    shot(page, "leaderboard", doc=True)

    page.select_option("select[name=role]", "bull")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r".*role=bull.*"))
    expect(page.locator("table.leaderboard tbody tr")).to_have_count(1)
    expect(page.locator("table.leaderboard")).to_contain_text("rules-bull")

    page.select_option("select[name=role]", "")
    page.select_option("select[name=kind]", "traders")
    page.click("form.filters button[type=submit]")
    expect(page.locator("table.leaderboard tbody tr")).to_have_count(1)
    expect(page.locator("table.leaderboard")).to_contain_text("steady")

    page.locator("a", has_text="Reset").first.click()
    page.locator("table.leaderboard th a[data-sort=name]").click()
    page.wait_for_url(re.compile(r".*sort=name.*"))
    expect(page.locator('table.leaderboard th[aria-sort="ascending"]')).to_contain_text("Profile")
    console_errors.check()
