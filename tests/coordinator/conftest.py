"""Fixtures of the coordinator tests: a scripted provider standing in for a remote model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.providers import get_provider, register_provider
from tests.coordinator.scripted import PROVIDER_NAME, ScriptedProvider


@pytest.fixture
def scripted() -> Iterator[ScriptedProvider]:
    """The scripted provider serves ``openai_compatible`` profiles for one test, then the real one is back."""
    real = get_provider(PROVIDER_NAME)
    provider = ScriptedProvider()
    register_provider(PROVIDER_NAME, provider)
    yield provider
    register_provider(PROVIDER_NAME, real)
