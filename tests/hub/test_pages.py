"""The hub's pages: what they show, how they fail, and how many queries they take."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from django.utils.html import escape

from agents.models import AgentProfile, Panel, PanelSeat, PanelStage, Role
from debates.models import DebateMessage, DebateStatus, ToolCall
from debates.services import debate_run_now
from tests.hub.factories import make_debates

pytestmark = pytest.mark.django_db

# session and user (2), the leaderboard selector on raw tables (rollup watermark, rollup, four
# families of raw sums, baseline, profile names: at most 8), the activity table (2)
LEADERBOARD_MAX_QUERIES = 12


# --- overview -----------------------------------------------------------------------------------


def test_overview_shows_recent_debates_stats_and_charts(arena, hub_client):
    make_debates(arena, 3, cost=Decimal("0.5"), escalated=True, agreement=0.55)
    make_debates(arena, 1, status=DebateStatus.FAILED, cost=Decimal("0.25"))
    make_debates(arena, 1, status=DebateStatus.RUNNING, symbol="BOLT")
    response = hub_client.get("/hub/")
    assert response.status_code == 200
    html = response.content.decode()
    today = response.context["periods"][0]
    assert (today.debates, today.completed, today.failed, today.active) == (5, 3, 1, 1)
    # the ledger: finished debates plus the running one's calls (10 decimals: PostgreSQL rounds thirds)
    assert today.cost_usd == pytest.approx(Decimal("1.7623"), abs=Decimal("1e-8"))
    assert today.pass_rate == 0.75
    assert today.escalation_rate == 1.0
    assert today.calls == 3 * 6 + 5 + 5  # completed: 5 analysts + judge; failed and running: analysts only
    assert today.tokens == today.calls * 1200
    assert "$1.76" in html
    assert "33.6k" in html or "33,600" in html  # tokens
    assert "75%" in html  # pass rate
    assert 'class="chart chart-histogram"' in html
    assert "Cost per day" in html
    assert 'data-poll-url="/hub/active/"' in html
    assert "BOLT" in html  # the running debate, in the live panel


def test_overview_empty_state_says_what_to_run(arena, hub_client):
    html = hub_client.get("/hub/").content.decode()
    assert "No debates yet." in html
    assert "manage.py demo" in html
    assert "No completed debate yet." in html


def test_overview_query_count_does_not_grow_with_debates(arena, hub_client, django_assert_max_num_queries):
    make_debates(arena, 60, escalated=True)
    make_debates(arena, 10, status=DebateStatus.RUNNING)
    with django_assert_max_num_queries(10):
        response = hub_client.get("/hub/")
    assert response.status_code == 200
    assert len(response.context["page"].object_list) == 25


def test_overview_bad_page_numbers_fall_back_to_a_real_page(arena, hub_client):
    make_debates(arena, 30)
    assert hub_client.get("/hub/?page=999").context["page"].number == 2
    assert hub_client.get("/hub/?page=abc").context["page"].number == 1


def test_active_fragment_lists_queued_and_running_only(arena, hub_client, django_assert_max_num_queries):
    make_debates(arena, 2, status=DebateStatus.RUNNING, symbol="BOLT")
    make_debates(arena, 1, status=DebateStatus.QUEUED, symbol="CYAN")
    make_debates(arena, 1, symbol="DUNE")
    with django_assert_max_num_queries(4):
        response = hub_client.get("/hub/active/")
    html = response.content.decode()
    assert html.count("data-session=") == 3
    assert "DUNE" not in html
    assert "waiting for a worker" in html  # the queued one
    assert "<html" not in html  # a fragment, not a page


def test_active_fragment_empty_state(arena, hub_client):
    assert b"No debate is queued or running" in hub_client.get("/hub/active").content


# --- run details --------------------------------------------------------------------------------


def test_run_details_of_a_real_debate(arena, hub_client):
    session = debate_run_now(symbol="ACME", as_of=dt.date(2024, 3, 1))
    response = hub_client.get(f"/hub/debates/{session.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    for role in ("Bull", "Bear", "Risk manager", "Technical analyst", "Fundamental analyst", "Judge"):
        assert f"<h4>{role}</h4>" in html
    assert "Judge&#x27;s consensus" in html or "Judge's consensus" in html
    for tool in ("get_bars", "get_quote", "get_account", "get_positions"):
        assert f"<code>{tool}</code>" in html
    assert "Full result" in html
    assert "Risk checks" in html
    assert 'class="chart chart-timeline"' in html
    assert "data-poll-stop" in html  # finished: no live polling
    assert "data-poll-url" not in html


def test_run_details_escapes_model_text(arena, hub_client):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    (session,) = make_debates(arena, 1, reasoning=evil)
    DebateMessage.objects.filter(session=session).update(raw_output=evil, validation_status="repaired")
    ToolCall.objects.filter(session=session).update(result_summary=evil, result={"note": evil})
    html = hub_client.get(f"/hub/debates/{session.pk}/").content.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_run_details_of_unknown_debate_is_a_404_message(arena, hub_client):
    response = hub_client.get("/hub/debates/999999/")
    assert response.status_code == 404
    assert b"No debate #999999." in response.content
    assert b"Back to the overview" in response.content
    assert hub_client.get("/hub/debates/999999/live").status_code == 404


def test_run_details_of_a_running_debate_polls_until_done(arena, hub_client):
    (session,) = make_debates(arena, 1, status=DebateStatus.RUNNING)
    html = hub_client.get(f"/hub/debates/{session.pk}/").content.decode()
    assert f'data-poll-url="/hub/debates/{session.pk}/live/"' in html
    assert "No consensus yet" in html
    fragment = hub_client.get(f"/hub/debates/{session.pk}/live").content.decode()
    assert "data-poll-stop" not in fragment
    session.status = DebateStatus.FAILED
    session.save(update_fields=["status"])
    assert "data-poll-stop" in hub_client.get(f"/hub/debates/{session.pk}/live").content.decode()


def test_run_details_shows_escalation_rounds_triggers_and_cost(
    arena, hub_client, django_assert_max_num_queries
):
    (session,) = make_debates(arena, 1, rounds=2, escalated=True, cost=Decimal("1.2"))
    # session, user, the debate (5), the ledger summed per answer, the outcomes "trade" section (2)
    with django_assert_max_num_queries(10):
        response = hub_client.get(f"/hub/debates/{session.pk}/")
    html = response.content.decode()
    assert "Round 2" in html
    assert "agreement_below" in html
    assert "escalated" in html
    breakdown = response.context["breakdown"]
    assert [line.calls for line in breakdown.per_round] == [6, 6]
    assert breakdown.total_cost_usd == Decimal("1.2")
    assert breakdown.tokens_known
    assert [line.input_tokens for line in breakdown.per_round] == [6000, 6000]
    # Round wall time: slowest analyst plus the judge.
    assert [line.latency_ms for line in breakdown.per_round] == [110 + 200, 120 + 200]


def test_run_details_failed_debate_shows_the_reason(arena, hub_client):
    (session,) = make_debates(arena, 1, status=DebateStatus.FAILED)
    html = hub_client.get(f"/hub/debates/{session.pk}/").content.decode()
    assert "Quorum not met" in html
    assert "No consensus: the debate failed" in html


# --- strategies ---------------------------------------------------------------------------------


def _more_panels(arena: Panel, n: int) -> None:
    seats = list(PanelSeat.objects.filter(panel=arena))
    for i in range(n):
        panel = Panel.objects.create(name=f"panel-{i}", quorum=2)
        PanelSeat.objects.bulk_create(
            [PanelSeat(panel=panel, stage=s.stage, role=s.role, profile_id=s.profile_id) for s in seats]
        )


def test_strategies_shows_seats_policy_and_results(arena, hub_client):
    make_debates(arena, 3, agreement=0.6, cost=Decimal("0.1"))
    make_debates(arena, 1, status=DebateStatus.FAILED)
    html = hub_client.get("/hub/strategies/").content.decode()
    assert arena.name in html
    assert "Quorum" in html and "Deadline s" in html
    assert "75%" in html  # completed share: 3 of 4
    assert "60%" in html  # average agreement
    assert f"/admin/agents/panel/{arena.pk}/change/" in html
    assert html.count("<tr") >= PanelSeat.objects.filter(panel=arena).count()


def test_strategies_query_count_does_not_grow_with_panels(arena, hub_client, django_assert_max_num_queries):
    _more_panels(arena, 12)
    make_debates(arena, 20)
    with django_assert_max_num_queries(6):
        response = hub_client.get("/hub/strategies/")
    assert len(response.context["panels"]) == 10  # first page


def test_strategies_empty_state(arena, hub_client):
    Panel.objects.all().delete()
    html = hub_client.get("/hub/strategies/").content.decode()
    assert "No panels yet." in html
    assert "seed_demo" in html


# --- tools --------------------------------------------------------------------------------------


def test_tools_page_aggregates_tool_calls(arena, hub_client, django_assert_max_num_queries):
    make_debates(arena, 30)
    failed = list(ToolCall.objects.filter(tool="get_quote").values_list("pk", flat=True)[:3])
    ToolCall.objects.filter(pk__in=failed).update(error="boom")
    with django_assert_max_num_queries(5):
        response = hub_client.get("/hub/tools/")
    stats = {s.tool: s for s in response.context["stats"]}
    assert list(stats) == ["get_quote", "get_bars", "get_account", "get_positions"]
    assert stats["get_quote"].calls == 30
    assert stats["get_quote"].errors == 3
    assert stats["get_quote"].error_rate == pytest.approx(0.1)
    assert stats["get_bars"].avg_latency_ms == 3


def test_tools_form_runs_get_bars_without_recording(arena, hub_client):
    response = hub_client.post(
        "/hub/tools/", {"tool": "get_bars", "symbol": "acme", "as_of": "2024-03-01", "lookback": "20"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "20 bars" in html and "..2024-03-01" in html
    assert 'class="chart chart-line"' in html
    assert '<option value="ACME">' in html  # symbol suggestions
    assert not ToolCall.objects.exists()


def test_tools_form_quote_as_of_a_date_sees_no_later_bar(arena, hub_client):
    response = hub_client.post("/hub/tools/", {"tool": "get_quote", "symbol": "ACME", "as_of": "2024-03-03"})
    outcome = response.context["outcome"]
    assert outcome.ok
    assert outcome.result["as_of"] <= "2024-03-03"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"tool": "get_quote", "as_of": "2024-03-01"}, "symbol", "get_quote needs a symbol."),
        ({"tool": "get_quote", "symbol": "ACME", "as_of": "yesterday"}, "as_of", "Enter a valid date."),
        ({"tool": "get_quote", "symbol": "1BAD", "as_of": "2024-03-01"}, "symbol", "starting with a letter"),
        ({"tool": "drop_tables", "as_of": "2024-03-01"}, "tool", "Select a valid choice."),
        (
            {"tool": "get_bars", "symbol": "ACME", "as_of": "2024-03-01", "lookback": "0"},
            "lookback",
            "greater",
        ),
        ({"tool": "get_bars", "symbol": "ACME", "as_of": "2024-03-01"}, "lookback", "how many bars"),
    ],
)
def test_tools_form_bad_input_is_a_form_error(arena, hub_client, data, field, message):
    response = hub_client.post("/hub/tools/", data)
    assert response.status_code == 200  # the form again, with its errors
    errors = response.context["form"].errors
    assert field in errors
    assert message in " ".join(errors[field])
    assert b"field-error" in response.content


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tool": "get_quote", "symbol": "NOPE", "as_of": "2024-03-01"}, "Unknown symbol 'NOPE'."),
        (
            {"tool": "get_quote", "symbol": "ACME", "as_of": "1990-01-01"},
            "No bars for ACME on or before 1990-01-01.",
        ),
    ],
)
def test_tools_form_failed_call_is_shown_not_raised(arena, hub_client, data, message):
    response = hub_client.post("/hub/tools/", data)
    assert response.status_code == 200
    assert response.context["outcome"].error
    assert escape(message) in response.content.decode()
    assert not ToolCall.objects.exists()


# --- leaderboard and competitions -----------------------------------------------------------------


def test_leaderboard_without_decisions_says_what_to_run(arena, hub_client):
    html = hub_client.get("/hub/leaderboard/").content.decode()
    assert 'id="rankings-empty"' in html
    assert "start a backtest" in html
    assert 'id="activity-empty"' in html


def test_leaderboard_activity_table_filters_by_role_and_window(arena, hub_client):
    make_debates(arena, 2)
    old = make_debates(arena, 1, symbol="BOLT")
    DebateMessage.objects.filter(session__in=old).update(created_at=timezone.now() - dt.timedelta(days=3))
    rows = list(hub_client.get("/hub/leaderboard/?role=bull").context["activity"].object_list)
    assert [r.profile.role for r in rows] == [Role.BULL]
    assert rows[0].answers == 3
    rows = list(hub_client.get("/hub/leaderboard/?role=bull&window=24h").context["activity"].object_list)
    assert rows[0].answers == 2
    rows = list(hub_client.get("/hub/leaderboard/?symbol=bolt").context["activity"].object_list)
    assert {r.answers for r in rows} == {1}


def test_leaderboard_bad_filter_is_reported_not_a_500(arena, hub_client):
    make_debates(arena, 1)
    response = hub_client.get("/hub/leaderboard/?window=forever&sort=chaos&kind=robots")
    assert response.status_code == 200
    assert b"were not understood and were ignored" in response.content
    assert response.context["filters"]["window"] == "30d"
    assert response.context["filters"]["sort"] == "-hit_rate_low"
    assert len(response.context["activity"].object_list) == 6  # defaults applied


def test_leaderboard_activity_query_count_does_not_grow_with_profiles(
    arena, hub_client, django_assert_max_num_queries, settings
):
    settings.ARENA_LEADERBOARD_CACHE_SECONDS = 0
    bull = AgentProfile.objects.get(name="rules-bull")
    for i in range(40):
        bull.pk, bull.name = None, f"bull-{i}"
        bull.save()
        DebateMessage.objects.bulk_create(
            [
                DebateMessage(session=s, round=2, role=Role.BULL, profile=bull, validation_status="valid")
                for s in make_debates(arena, 1)
            ]
        )
    with django_assert_max_num_queries(LEADERBOARD_MAX_QUERIES):
        response = hub_client.get("/hub/leaderboard/?activity_sort=valid")
    assert len(response.context["activity"].object_list) == 46


def test_competitions_page_has_an_honest_empty_state(arena, hub_client):
    html = hub_client.get("/hub/competitions/").content.decode()
    assert "No competitions yet." in html
    assert "run_competition" in html


# --- navigation shared with the admin ------------------------------------------------------------


def test_admin_shows_the_hub_navigation(arena, staff_user):
    from django.test import Client

    staff_user.is_superuser = True
    staff_user.save()
    client = Client()
    client.force_login(staff_user)
    html = client.get("/admin/").content.decode()
    for href in (
        "/hub/",
        "/hub/leaderboard/",
        "/hub/competitions/",
        "/hub/strategies/",
        "/hub/tools/",
        "/api/docs/",
    ):
        assert f'href="{href}"' in html
    assert "Arena administration" in html


def test_hub_navigation_marks_the_current_page(arena, hub_client):
    html = hub_client.get("/hub/tools/").content.decode()
    assert '<a href="/hub/tools/" aria-current="page">Tools</a>' in html
    assert 'href="/admin/"' in html


def test_root_redirects_to_the_hub(db):
    from django.test import Client

    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/hub/"


def test_escalation_stage_panel_seat_listed_in_debate_order(arena, hub_client):
    response = hub_client.get("/hub/strategies/")
    seats = response.context["panels"][0]["seats"]
    stages = [s.stage for s in seats]
    assert stages == sorted(stages, key=list(PanelStage.values).index)


def test_run_details_render_other_apps_sections_generically(arena, hub_client, monkeypatch):
    from debates import extensions

    monkeypatch.setitem(
        extensions._SECTIONS, "order", lambda s: {"side": "buy", "qty": "3", "note": "<b>filled</b>"}
    )
    monkeypatch.setitem(
        extensions._SECTIONS, "fills", lambda s: [{"price": "10.5", "qty": 1}, {"price": "10.6", "qty": 2}]
    )
    (session,) = make_debates(arena, 1)
    html = hub_client.get(f"/hub/debates/{session.pk}/").content.decode()
    assert '<section class="card section" id="section-order">' in html
    assert "<dt>side</dt><dd>buy</dd>" in html
    assert "&lt;b&gt;filled&lt;/b&gt;" in html
    assert "<th>price</th><th>qty</th>" in html and "<td>10.6</td>" in html


def test_run_details_survive_a_failing_section(arena, hub_client, monkeypatch):
    from debates import extensions

    def broken(session):
        raise RuntimeError("outcomes table missing")

    monkeypatch.setitem(extensions._SECTIONS, "outcome", broken)
    (session,) = make_debates(arena, 1)
    response = hub_client.get(f"/hub/debates/{session.pk}/")
    assert response.status_code == 200
    assert b"could not be loaded; see the server log" in response.content
    assert b"Judge" in response.content
