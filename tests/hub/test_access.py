"""Every hub page and JSON twin refuses anonymous and non-staff users; forms need a CSRF token."""

import pytest
from django.test import Client

from debates.models import ToolCall

pytestmark = pytest.mark.django_db

PAGES = [
    "/hub/",
    "/hub/active/",
    "/hub/debates/1/",
    "/hub/debates/1/live",
    "/hub/strategies/",
    "/hub/tools/",
    "/hub/leaderboard/",
    "/hub/competitions/",
    "/hub/competitions/1/",
    "/hub/competitions/1/live/",
]
APIS = [
    "/api/admin/arena/overview",
    "/api/admin/arena/runs",
    "/api/admin/arena/runs/1",
    "/api/admin/arena/competitions/1",
]


@pytest.mark.parametrize("url", PAGES)
def test_hub_page_redirects_anonymous_to_admin_login(arena, url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("url", PAGES)
def test_hub_page_refuses_non_staff_with_a_message(arena, user_client, url):
    response = user_client.get(url)
    assert response.status_code == 403
    assert b"for staff accounts" in response.content
    assert b"Traceback" not in response.content


@pytest.mark.parametrize("url", APIS)
def test_hub_api_refuses_anonymous_and_non_staff(arena, anon_client, api_client, url):
    anonymous = anon_client.get(url)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    non_staff = api_client.get(url)
    assert non_staff.status_code == 403
    assert non_staff.json()["code"] == "permission_denied"


def test_hub_api_accepts_a_staff_session(arena, hub_client):
    assert hub_client.get("/api/admin/arena/overview").status_code == 200


def test_tools_form_refuses_a_post_without_csrf_token(arena, staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = client.post("/hub/tools/", {"tool": "get_account", "as_of": "2025-06-02"})
    assert response.status_code == 403
    page = client.get("/hub/tools/")
    assert b'name="csrfmiddlewaretoken"' in page.content


def test_tools_form_with_csrf_token_runs(arena, staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    client.get("/hub/tools/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/hub/tools/", {"tool": "get_account", "as_of": "2025-06-02", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 200
    assert b"cash 100000" in response.content
    assert not ToolCall.objects.exists()


def test_hub_pages_only_answer_get(arena, hub_client):
    assert hub_client.post("/hub/").status_code == 405
    assert hub_client.post("/hub/strategies/").status_code == 405


def test_non_staff_cannot_start_a_competition(arena, user_client):
    response = user_client.post(
        "/hub/competitions/", {"step": "confirm", "traders": ["x"], "symbols": "ACME"}
    )
    assert response.status_code == 403
    anonymous = Client().post("/hub/competitions/", {"step": "confirm"})
    assert anonymous.status_code == 302


def test_competition_form_refuses_a_post_without_csrf_token(arena, trader, staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = client.post("/hub/competitions/", {"step": "estimate", "symbols": "ACME"})
    assert response.status_code == 403
    page = client.get("/hub/competitions/")
    assert b'name="csrfmiddlewaretoken"' in page.content
