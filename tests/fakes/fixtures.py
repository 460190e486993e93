"""Pytest fixtures for the local fakes; the project's ``tests/conftest.py`` loads them via ``pytest_plugins``.

Kept out of a ``conftest.py`` so the fakes package stays importable on its own (benchmarks, scripts)
and each test suite opts in explicitly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.llm_server import FakeLLMServer

__all__ = ["fake_llm"]


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    """A started :class:`FakeLLMServer` with a fresh script and request log, stopped after the test."""
    with FakeLLMServer() as server:
        yield server
