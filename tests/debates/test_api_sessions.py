"""The debate sessions API end to end: create, list, detail, bad input, authentication, docs."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.core.management import call_command
from django.test import Client
from django_q.models import Task
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from debates.models import DebateConsensus, DebateMessage, DebateSession, DebateStatus, ToolCall
from debates.services import debate_run_now, debate_session_create

pytestmark = pytest.mark.django_db

SESSIONS = "/api/debate/sessions"
ANALYST_ROLES = {"bull", "bear", "risk_manager", "technical_analyst", "fundamental_analyst"}


def _post(client: APIClient, body: dict, path: str = SESSIONS):
    return client.post(path, body, format="json")


def _assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "extra"}, body
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body


def _assert_field_error(response, field: str) -> list[str]:
    body = _assert_error(response, 400)
    fields = body["extra"]["fields"]
    assert field in fields, fields
    messages = fields[field]
    assert messages and all(isinstance(m, str) and m for m in messages), messages
    return messages


def _nothing_written() -> None:
    assert DebateSession.objects.count() == 0
    assert DebateMessage.objects.count() == 0
    assert ToolCall.objects.count() == 0
    assert DebateConsensus.objects.count() == 0


# --- create: happy path ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [SESSIONS, SESSIONS + "/"])
def test_debate_session_create_runs_through_django_q_and_completes(
    arena, api_client, user, django_capture_on_commit_callbacks, path
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = _post(api_client, {"symbol": "acme", "as_of": "2024-03-01"}, path)

    assert response.status_code == 202, response.content
    body = response.json()
    assert callbacks  # the task is enqueued on commit, not before
    assert body["symbol"] == "ACME"
    assert body["as_of"] == "2024-03-01"
    assert body["status"] == DebateStatus.QUEUED  # the response describes the queued session
    assert body["requested_by"] == user.username
    assert body["panel"] == arena.name
    assert body["url"] == f"/api/debate/sessions/{body['id']}"
    assert response["Location"] == body["url"]

    session = DebateSession.objects.get(pk=body["id"])
    assert session.status == DebateStatus.COMPLETED, session.error
    assert session.attempts == 1
    task = Task.objects.get(name=f"debate-{session.pk}")  # it ran through django-q2, not a shortcut
    assert task.func == "debates.tasks.debate_run"
    assert task.success is True
    assert task.result == DebateStatus.COMPLETED

    detail = api_client.get(response["Location"])
    assert detail.status_code == 200
    data = detail.json()
    assert data["status"] == "completed"
    assert len(data["messages"]) == 6
    assert {m["role"] for m in data["messages"]} == ANALYST_ROLES | {"judge"}
    assert all(m["validation_status"] == "valid" for m in data["messages"])
    assert sorted(c["tool"] for c in data["tool_calls"]) == [
        "get_account",
        "get_bars",
        "get_positions",
        "get_quote",
    ]
    assert [c["sequence"] for c in data["tool_calls"]] == [1, 2, 3, 4]
    assert all(c["error"] == "" for c in data["tool_calls"])
    consensus = data["consensus"]
    assert consensus["action"] in {"buy", "sell", "hold"}
    assert 0 <= consensus["agreement_rate"] <= 1
    assert consensus["valid_analysts"] == 5
    assert (consensus["order_intent"] is None) == (consensus["action"] == "hold")
    assert DebateConsensus.objects.filter(session=session).count() == 1


def test_debate_session_create_defaults_as_of_to_the_last_bar(arena, api_client):
    response = _post(api_client, {"symbol": "BOLT"})
    assert response.status_code == 202, response.content
    assert response.json()["as_of"] == "2025-12-31"


def test_debate_session_create_accepts_a_named_panel(arena, api_client):
    response = _post(api_client, {"symbol": "BOLT", "panel": arena.name, "as_of": "2023-06-30"})
    assert response.status_code == 202, response.content
    assert response.json()["panel"] == arena.name


def test_debate_session_create_is_not_enqueued_when_the_transaction_does_not_commit(arena, api_client):
    # Without running on_commit callbacks the task never starts: the session stays queued.
    response = _post(api_client, {"symbol": "ACME"})
    assert response.status_code == 202
    assert DebateSession.objects.get().status == DebateStatus.QUEUED
    assert DebateMessage.objects.count() == 0


# --- create: bad input writes nothing ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"symbol": "ZZZZ"}, "symbol"),
        ({"symbol": "1ACME"}, "symbol"),
        ({"symbol": ""}, "symbol"),
        ({"symbol": "A" * 40}, "symbol"),
        ({"symbol": None}, "symbol"),
        ({"symbol": ["ACME"]}, "symbol"),
        ({"as_of": "2024-01-02"}, "symbol"),
        ({"symbol": "ACME", "as_of": "2024-13-45"}, "as_of"),
        ({"symbol": "ACME", "as_of": "yesterday"}, "as_of"),
        ({"symbol": "ACME", "as_of": "01/03/2024"}, "as_of"),
        ({"symbol": "ACME", "as_of": 20240103}, "as_of"),
        ({"symbol": "ACME", "as_of": "2020-12-31"}, "as_of"),  # before the first bar (2021-01-04)
        ({"symbol": "ACME", "as_of": "0001-01-01"}, "as_of"),
        ({"symbol": "ACME", "panel": "no-such-panel"}, "panel"),
        ({"symbol": "ACME", "panel": "x" * 101}, "panel"),
        ({"symbol": "ACME", "panel": "nul\x00byte"}, "panel"),
        ({"symbol": "ACME", "colour": "red"}, "colour"),
        ({"symbol": "ACME", "As_Of": "2024-01-02"}, "As_Of"),
    ],
)
def test_debate_session_create_refuses_bad_input(arena, api_client, body, field):
    response = _post(api_client, body)
    _assert_field_error(response, field)
    _nothing_written()


def test_debate_session_create_names_every_unknown_field(arena, api_client):
    response = _post(api_client, {"symbol": "ACME", "foo": 1, "bar": 2})
    body = _assert_error(response, 400, "invalid")
    assert set(body["extra"]["fields"]) == {"foo", "bar"}
    _nothing_written()


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("application/json", "{garbage"),
        ("application/json", '{"symbol": "ACME",}'),
        ("application/json", "\xff\xfe not utf-8"),
        ("application/json", "[1, 2]"),
        ("application/json", '"ACME"'),
        ("application/json", "null"),
        ("text/plain", "symbol=ACME"),
        ("application/xml", "<symbol>ACME</symbol>"),
    ],
)
def test_debate_session_create_refuses_a_non_json_body(arena, api_client, content_type, raw):
    response = api_client.generic("POST", SESSIONS, raw, content_type=content_type)
    body = _assert_error(response, 400)
    fields = body["extra"]["fields"]
    assert fields and all(isinstance(v, list) and v for v in fields.values()), body
    _nothing_written()


@pytest.mark.parametrize("content_type", ["application/json", None])
def test_debate_session_create_refuses_no_body(arena, api_client, content_type):
    if content_type:
        response = api_client.generic("POST", SESSIONS, "", content_type=content_type)
    else:
        response = api_client.post(SESSIONS)
    assert _assert_field_error(response, "symbol") == ["This field is required."]
    _nothing_written()


def test_debate_session_create_without_a_default_panel_is_a_field_error(arena, api_client):
    type(arena).objects.update(is_default=False)
    response = _post(api_client, {"symbol": "ACME"})
    _assert_field_error(response, "panel")
    _nothing_written()


# --- authentication ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", SESSIONS),
        ("get", SESSIONS),
        ("get", SESSIONS + "/1"),
        ("get", "/api/market/symbols"),
        ("get", "/api/market/symbols/ACME/bars"),
    ],
)
def test_api_refuses_requests_without_credentials(arena, anon_client, method, path):
    response = getattr(anon_client, method)(path, {"symbol": "ACME"} if method == "post" else None)
    _assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Token")
    _nothing_written()


def test_api_refuses_a_bad_token(arena):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = _post(client, {"symbol": "ACME"})
    _assert_error(response, 401, "authentication_failed")
    _nothing_written()


def test_api_refuses_an_inactive_users_token(arena, user, api_client):
    user.is_active = False
    user.save()
    response = _post(api_client, {"symbol": "ACME"})
    _assert_error(response, 401)
    _nothing_written()


def test_token_issued_by_manage_py_authenticates(arena, user):
    out = io.StringIO()
    call_command("drf_create_token", user.username, stdout=out)
    key = Token.objects.get(user=user).key
    assert key in out.getvalue()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(SESSIONS).status_code == 200
    assert _post(client, {"symbol": "ACME"}).status_code == 202


def test_session_auth_works_for_reads_and_csrf_protected_writes(arena, user):
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=user.username, password="pw-analyst-123")

    assert client.get(SESSIONS).status_code == 200

    # A session-authenticated write without the CSRF token is refused, and writes nothing.
    refused = client.post(SESSIONS, {"symbol": "ACME"}, content_type="application/json")
    _assert_error(refused, 403)
    _nothing_written()

    client.get("/admin/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post(
        SESSIONS, {"symbol": "ACME"}, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert accepted.status_code == 202, accepted.content
    assert accepted.json()["requested_by"] == user.username
    assert DebateSession.objects.count() == 1


def test_session_auth_with_a_wrong_password_is_not_authenticated(arena, user):
    client = Client()
    assert not client.login(username=user.username, password="wrong")
    _assert_error(client.get(SESSIONS), 401)


# --- list -------------------------------------------------------------------------------------------


@pytest.fixture
def sessions(arena, user):
    """Two completed debates and three queued sessions over two symbols and several dates."""
    done = [
        debate_run_now(symbol="ACME", as_of=dt.date(2023, 1, 3)),
        debate_run_now(symbol="BOLT", as_of=dt.date(2024, 6, 3)),
    ]
    queued = [
        debate_session_create(symbol="ACME", as_of=dt.date(2022, 5, 2), requested_by=user, enqueue=False),
        debate_session_create(symbol="ACME", as_of=dt.date(2024, 7, 1), requested_by=user, enqueue=False),
        debate_session_create(symbol="CYAN", as_of=dt.date(2025, 2, 3), requested_by=user, enqueue=False),
    ]
    assert all(s.status == DebateStatus.COMPLETED for s in done)
    return {"done": done, "queued": queued}


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("path", [SESSIONS, SESSIONS + "/"])
def test_debate_session_list_is_paginated_newest_first(sessions, api_client, path):
    first = api_client.get(path, {"page_size": 2})
    assert first.status_code == 200
    page = first.json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 5
    assert page["previous"] is None
    assert page["next"]
    newest = sessions["queued"][-1]
    assert page["results"][0]["id"] == newest.pk

    seen: list[int] = []
    url = f"{path}?page_size=2"
    while url:
        response = api_client.get(url)
        assert response.status_code == 200
        body = response.json()
        assert len(body["results"]) <= 2
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    all_ids = [s.pk for s in sessions["done"] + sessions["queued"]]
    assert sorted(seen) == sorted(all_ids)
    assert len(seen) == len(set(seen))


def test_debate_session_list_rows_carry_the_consensus(sessions, api_client):
    rows = {r["id"]: r for r in api_client.get(SESSIONS).json()["results"]}
    for session in sessions["done"]:
        assert rows[session.pk]["consensus"]["action"] in {"buy", "sell", "hold"}
    for session in sessions["queued"]:
        assert rows[session.pk]["consensus"] is None


def test_debate_session_list_page_out_of_range_is_404(sessions, api_client):
    _assert_error(api_client.get(SESSIONS, {"page": 99}), 404, "not_found")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "completed"}, lambda s: s["done"]),
        ({"status": "queued"}, lambda s: s["queued"]),
        ({"status": "failed"}, lambda s: []),
        ({"symbol": "acme"}, lambda s: [s["done"][0], *s["queued"][:2]]),
        ({"symbol": "CYAN"}, lambda s: [s["queued"][2]]),
        ({"symbol": "ZZZZ"}, lambda s: []),
        ({"as_of_after": "2024-06-03"}, lambda s: [s["done"][1], *s["queued"][1:]]),
        ({"as_of_before": "2023-01-03"}, lambda s: [s["done"][0], s["queued"][0]]),
        (
            {"as_of_after": "2022-01-01", "as_of_before": "2024-06-30"},
            lambda s: [s["done"][0], s["done"][1], s["queued"][0]],
        ),
        ({"symbol": "ACME", "status": "queued", "as_of_after": "2023-01-01"}, lambda s: [s["queued"][1]]),
    ],
)
def test_debate_session_list_filters(sessions, api_client, query, expected):
    response = api_client.get(SESSIONS, query)
    assert _ids(response) == {s.pk for s in expected(sessions)}
    assert response.json()["count"] == len(expected(sessions))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "sleeping"}, "status"),
        ({"as_of_after": "not-a-date"}, "as_of_after"),
        ({"as_of_before": "2024-02-30"}, "as_of_before"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"status": ""}, "status"),
        ({"symbol": ""}, "symbol"),
        ({"symbol": "X" * 17}, "symbol"),
        ({"page": ""}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "two"}, "page"),
        ({"page": "last"}, "page"),
        ({"page_size": "null"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "501"}, "page_size"),
    ],
)
def test_debate_session_list_refuses_bad_filters(sessions, api_client, query, field):
    _assert_field_error(api_client.get(SESSIONS, query), field)


# --- detail -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/"])
def test_debate_session_detail_has_messages_tool_calls_and_consensus(sessions, api_client, suffix):
    session = sessions["done"][0]
    response = api_client.get(f"{SESSIONS}/{session.pk}{suffix}")
    assert response.status_code == 200
    data = response.json()
    assert data["id"] == session.pk
    assert data["as_of"] == "2023-01-03"
    assert len(data["messages"]) == 6
    assert len(data["tool_calls"]) == 4
    assert data["consensus"] is not None
    assert "sections" in data
    judge = next(m for m in data["messages"] if m["role"] == "judge")
    assert judge["output"]["action"] == data["consensus"]["action"]


def test_debate_session_detail_of_a_queued_session_is_empty(sessions, api_client):
    data = api_client.get(f"{SESSIONS}/{sessions['queued'][0].pk}").json()
    assert data["status"] == "queued"
    assert data["messages"] == [] and data["tool_calls"] == [] and data["consensus"] is None


@pytest.mark.parametrize("session_id", ["999999", "0", "999999999999999999"])
def test_debate_session_detail_unknown_id_is_404(sessions, api_client, session_id):
    body = _assert_error(api_client.get(f"{SESSIONS}/{session_id}"), 404, "not_found")
    assert body["extra"] == {}


@pytest.mark.parametrize("path", [f"{SESSIONS}/abc", f"{SESSIONS}/-1", f"{SESSIONS}/1/extra"])
def test_debate_session_detail_non_numeric_id_is_not_found(sessions, api_client, path):
    assert api_client.get(path).status_code == 404


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_debate_session_methods_not_allowed(sessions, api_client, method):
    pk = sessions["done"][0].pk
    _assert_error(getattr(api_client, method)(f"{SESSIONS}/{pk}"), 405, "method_not_allowed")
    _assert_error(getattr(api_client, method)(SESSIONS), 405, "method_not_allowed")
    assert DebateSession.objects.count() == 5


# --- schema and docs --------------------------------------------------------------------------------


def test_openapi_schema_loads_and_documents_errors(api_client, anon_client):
    response = anon_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    ops = schema["paths"]
    create = ops["/api/debate/sessions/"]["post"]
    assert {"202", "400", "401", "403"} <= set(create["responses"])
    assert {"200", "401", "404"} <= set(ops["/api/debate/sessions/{session_id}/"]["get"]["responses"])
    assert "Error" in schema["components"]["schemas"]
    assert anon_client.get("/api/schema/").status_code == 200  # YAML by default


def test_swagger_ui_is_served_with_local_assets(anon_client):
    response = anon_client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert not re.search(r"https?://(?!127\.0\.0\.1|localhost)", re.sub(r"https?://swagger\.io\S*", "", html))
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"):
        assert cdn not in html
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert scripts, html[:500]
    for src in scripts:
        assert src.startswith("/static/"), src
        asset = anon_client.get(src)
        assert asset.status_code == 200, src
        assert b"".join(asset.streaming_content if asset.streaming else [asset.content])


def test_redoc_is_served_with_local_assets(anon_client):
    response = anon_client.get("/api/redoc/")
    assert response.status_code == 200
    scripts = re.findall(r'<script src="([^"]+)"', response.content.decode())
    assert scripts and all(src.startswith("/static/") for src in scripts)
