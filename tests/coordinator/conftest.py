"""Fixtures of the coordinator tests: a scripted provider standing in for a remote model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.providers import register_provider
from tests.coordinator.scripted import PROVIDER_NAME, ScriptedProvider


@pytest.fixture
def scripted() -> Iterator[ScriptedProvider]:
    provider = ScriptedProvider()
    register_provider(PROVIDER_NAME, provider)
    yield provider
    register_provider(PROVIDER_NAME, None)
