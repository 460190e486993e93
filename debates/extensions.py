"""Sections other apps add to a debate session's detail (API, ``run_debate --json``, the hub).

Apps to the right of debates (outcomes, competition) register a function in their AppConfig.ready();
the detail serializer calls each one. This keeps the dependency direction agents <- debates <-
outcomes <- competition while the session detail still shows the order intent and the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from debates.models import DebateSession

SectionBuilder = Callable[["DebateSession"], Any]

_SECTIONS: dict[str, SectionBuilder] = {}


def register_session_section(name: str, builder: SectionBuilder) -> None:
    """Add ``name`` to every session detail, built by ``builder(session)`` (JSON-serialisable)."""
    _SECTIONS[name] = builder


def session_sections(session: DebateSession) -> dict[str, Any]:
    return {name: builder(session) for name, builder in _SECTIONS.items()}
