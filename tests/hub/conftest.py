"""Clients for the hub's pages: a signed-in staff member and a signed-in non-staff user."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client


@pytest.fixture
def hub_client(staff_user: User) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def user_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _fresh_leaderboard_cache() -> None:
    """The leaderboard's answers and the rollup's watermark are cached per process; each test's
    database starts afresh, so must they."""
    from django.core.cache import cache

    from competition.services import rollup

    rollup._THROUGH_CACHE.clear()
    cache.clear()
