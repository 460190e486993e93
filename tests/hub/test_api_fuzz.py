"""Schemathesis over the hub's JSON twins with a staff token (the project-wide fuzz uses a plain user,
who only ever gets 403 here): generated queries and ids must give documented statuses and bodies."""

from __future__ import annotations

import pytest
import schemathesis
from rest_framework.authtoken.models import Token

from arena_project.wsgi import application
from tests.hub.factories import make_debates
from tests.test_openapi_fuzz import FUZZ_SETTINGS, _check_error_shape, _keep_the_test_connection  # noqa: F401

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(
    path_regex="^/api/admin/arena/(overview|runs)"
)  # the hub's own twins; the coordinator's panels/profiles under the same prefix have their own tests


@pytest.fixture
def staff_token(arena, staff_user) -> str:
    make_debates(arena, 3, escalated=True)
    return Token.objects.create(user=staff_user).key


@pytest.mark.django_db
@schema.parametrize()
@FUZZ_SETTINGS
def test_hub_api_conforms_to_its_schema_for_staff(case, staff_token):
    response = case.call_and_validate(headers={"Authorization": f"Token {staff_token}"})
    assert response.status_code < 500
    _check_error_shape(response)
