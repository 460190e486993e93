"""Schemathesis against the staff panels API and the cancel endpoint, as staff: no 500s, only
documented statuses, bodies that match the schema, the one error shape."""

from __future__ import annotations

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from arena_project.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(
    path_regex=r"^/api/(admin/arena/panels|debate/sessions/\{session_id\}/cancel)"
)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """WSGI request signals would close the test's own connection (see tests/test_openapi_fuzz.py)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def staff_token(arena) -> str:
    user = User.objects.create_user("fuzz-staff", password="pw-fuzz-12345", is_staff=True)
    return Token.objects.create(user=user).key


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=15, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
def test_panels_and_cancel_conform_to_their_schema(case, staff_token) -> None:
    # Schema-valid bodies may still break a domain rule (a profile id that does not exist, a seat
    # for the wrong role, a name taken): a 400 naming the field is right, so that check is left out.
    response = case.call_and_validate(
        headers={"Authorization": f"Token {staff_token}"},
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
    assert response.status_code < 500
    if response.status_code >= 400:
        assert set(response.json()) == {"code", "message", "extra"}
