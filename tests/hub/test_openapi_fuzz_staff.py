"""Schemathesis fuzz, as staff, of the operations under /api/admin/arena/ that the hub and the
profile and panel APIs serve (the whole-schema fuzz uses a plain user, who gets 403 from each).

Every check runs, positive data acceptance (ST202) included: a request the schema calls valid must
not be refused with a 400, so the serializers declare their real constraints (JSON bodies only,
no unknown fields, lengths, patterns, enums, ranges, money as bounded numbers; agents/api/schema.py)
and the schema documents them. What OpenAPI 3.0 cannot state - rules between fields and rules
against stored data - is made to hold by ``map_case`` below, one documented rule at a time, so the
fuzz still varies everything else; those rules have their own tests (tests/agents).
"""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance, response_schema_conformance

from agents.models import Panel, Provider
from agents.validation import params_errors
from arena_project.wsgi import application
from debates.services import debate_run_now

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(
    path_regex=r"^/api/admin/arena/(panels|profiles|competitions)"
)

FUZZ_SETTINGS = settings(
    max_examples=30, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As in tests/test_openapi_fuzz.py: the WSGI request signals would close the test's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


_VALID_SEATS: list[dict[str, object]] = []
_NAMES = itertools.count()


@pytest.fixture
def staff_token(arena, staff_user) -> str:
    """Staff, with the seeded rules panel and profiles and one completed debate for detail reads."""
    debate_run_now(symbol="ACME")
    _VALID_SEATS[:] = [
        {"stage": seat.stage, "role": seat.role, "profile": seat.profile_id}
        for seat in Panel.objects.get(is_default=True).seats.all()
    ]
    return Token.objects.create(user=staff_user).key


def map_case(ctx, case):
    """Make a schema-valid (positive) body meet the rules no schema can state; negative cases are
    left alone, so that they still must be refused."""
    meta = case.meta
    if meta is not None and meta.generation.mode.is_positive and isinstance(case.body, dict):
        case.body = _rules_held(ctx, dict(case.body))
    return case


def _rules_held(ctx, body: dict) -> dict:
    if isinstance(body.get("name"), str):
        # a name must not be taken: examples share one database, so the first "0" would take it
        body["name"] = f"{body['name'][:90]}-{next(_NAMES)}"
    if "/panels" in ctx.operation.path:
        _panel_rules(body)
    elif "/profiles" in ctx.operation.path:
        _profile_rules(body)
    return body


def _panel_rules(body: dict) -> None:
    # a debate's deadline is at least one call's timeout (either may be left to its default)
    default = {f: Panel._meta.get_field(f).default for f in ("call_timeout_s", "deadline_s")}
    call = body.get("call_timeout_s", default["call_timeout_s"])
    deadline = body.get("deadline_s", default["deadline_s"])
    if call > deadline:
        if "deadline_s" in body:
            body["call_timeout_s"] = deadline
        else:
            body["deadline_s"] = body["call_timeout_s"] = min(call, default["deadline_s"])
    if "seats" in body:
        # seats name existing profiles of their role and form a panel: the seeded panel's seats
        body["seats"] = list(_VALID_SEATS)
    # an escalation trigger needs escalation seats to be useful; the seeded panel has none
    for key in list(body):
        if key.startswith("escalate_on_"):
            body[key] = False
    body.pop("escalation_switches_judge", None)
    body["escalation_scope"] = "none"


def _profile_rules(body: dict) -> None:
    provider = body.get("provider", Provider.RULES)  # updates: the seeded profiles are rules ones
    if provider == Provider.RULES:
        body.pop("base_url", None)
        body.pop("api_key_env", None)
    elif provider == Provider.OPENAI_COMPATIBLE:
        body["base_url"] = "http://127.0.0.1:9/v1"
    elif str(body.get("base_url", "")).rstrip("/").endswith("/v1"):
        body.pop("base_url")  # anthropic's base URL has no /v1; openai's any
    if "params" in body and params_errors(provider, body["params"]):
        body["params"] = {}  # which keys and values a provider takes
    prices = ("price_input_per_mtok", "price_output_per_mtok")
    given = [p for p in prices if body.get(p) is not None]
    if len(given) == 1:  # prices come in pairs
        body[prices[0]] = body[prices[1]] = body[given[0]]
    body.pop("fallbacks", None)  # names of existing profiles, without a cycle
    body.pop("repair_profile", None)  # the name of an existing LLM profile


def _check_error_shape(response) -> None:
    assert response.status_code < 500
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"code", "message", "extra"}, body
        if response.status_code == 400:
            assert body["extra"].get("fields"), body


@pytest.mark.django_db
@schema.parametrize()
@FUZZ_SETTINGS
def test_admin_arena_operations_conform_as_staff(case, staff_token):
    """Every check but ST202 on the bodies as generated: invalid data must be refused (400) and
    every answer must match the schema and the one error shape."""
    response = case.call_and_validate(
        headers={"Authorization": f"Token {staff_token}"}, excluded_checks=[positive_data_acceptance]
    )
    _check_error_shape(response)


@pytest.mark.django_db
@schema.hooks.apply(map_case, name="map_case")
@schema.parametrize()
@FUZZ_SETTINGS
def test_admin_arena_schema_valid_requests_are_accepted_as_staff(case, staff_token):
    """ST202: a request the schema calls valid is accepted once the rules between fields and
    against stored data hold (``map_case``). Only positive cases: the hook would turn an invalid
    body into a valid one, so negative cases are the test above's."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    response = case.call_and_validate(
        headers={"Authorization": f"Token {staff_token}"},
        checks=[positive_data_acceptance, not_a_server_error, response_schema_conformance],
    )
    _check_error_shape(response)
