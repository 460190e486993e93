"""Shared fixtures: a test database seeded once with the demo panel and bundled bars, users, clients.

The seed goes into the test database when it is created, so each test starts from it and rolls back
to it. A ``transaction=True`` test flushes the database at its end; the ``arena`` fixture notices
and seeds again, so test order never matters.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from agents.models import Panel
from agents.selectors import panel_plans_forget
from agents.services import default_panel_seed
from debates.market.history import HISTORIES
from debates.market.services import bundled_bars_load
from debates.models import Bar

os.environ.setdefault(
    "DJANGO_ALLOW_ASYNC_UNSAFE", "true"
)  # Playwright's live_server tests (see LIBRARY-NOTES)

pytest_plugins = ["tests.fakes.fixtures"]


def _seed() -> None:
    if not Bar.objects.exists():
        bundled_bars_load()
    if not Panel.objects.filter(is_default=True).exists():
        default_panel_seed()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> None:
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        _seed()


@pytest.fixture
def arena(db: None) -> Panel:
    """The seeded arena: bundled bars and the default rules panel. Returns the default panel."""
    _seed()
    return Panel.objects.get(is_default=True)


@pytest.fixture(autouse=True)
def _sync_tasks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """django-q2 runs tasks inline, through django-q2 itself (its Conf is read once, at import)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
    yield


@pytest.fixture
def user(db: None) -> User:
    return User.objects.create_user("analyst", password="pw-analyst-123")


@pytest.fixture
def staff_user(db: None) -> User:
    return User.objects.create_user("operator", password="pw-operator-123", is_staff=True)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def api_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def staff_client(staff_user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_user).key}")
    return client


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings) -> None:  # settings: pytest-django's SettingsWrapper
    """Hash test passwords with a fast hasher: the real one costs ~0.5 s per user created or logged in."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_kept_bar_histories() -> None:
    """Each test starts with no bar windows kept by the process (debates/market/history.py), so what
    it reads and how many queries it takes never depend on the tests before it. The windows are
    still kept within a test, and tests/market/test_bar_history.py checks that they stay current."""
    HISTORIES.clear()


@pytest.fixture(autouse=True)
def _no_kept_panel_plans() -> None:
    """Each test starts with no panel plans kept by the process (agents/selectors.py), for the same
    reason; tests/agents/test_panel_plan.py checks that kept plans stay current."""
    panel_plans_forget()
