"""debate_sessions_create: a batch of sessions created claimed by the caller, never enqueued."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import F
from django.utils import timezone
from django_q.models import OrmQ, Task

from agents.models import Panel
from arena_project.errors import InvalidInputError
from debates.market.sources import EmbeddedSource
from debates.models import DebateSession, DebateStatus, Instrument
from debates.services import DebateSessionRequest, debate_session_claim, debate_sessions_create

pytestmark = pytest.mark.django_db

DAY = dt.date(2024, 3, 1)
BEFORE_ANY_BAR = dt.date(1990, 1, 2)


def _requests(panel: Panel, *pairs: tuple[str, dt.date]) -> list[DebateSessionRequest]:
    return [DebateSessionRequest(symbol=symbol, as_of=as_of, panel=panel) for symbol, as_of in pairs]


def test_the_batch_is_stored_claimed_by_the_caller_and_never_enqueued(
    arena: Panel, django_capture_on_commit_callbacks
) -> None:
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        sessions = debate_sessions_create(
            requests=_requests(arena, (" acme", DAY), ("BOLT", DAY)), claimed_by_lease=dt.timedelta(minutes=7)
        )

    assert callbacks == []  # nothing to run after commit: the caller runs them itself
    assert not Task.objects.exists() and not OrmQ.objects.exists()
    stored = list(DebateSession.objects.filter(pk__in=[s.pk for s in sessions]).order_by("id"))
    assert [(s.symbol, s.as_of, s.panel_id) for s in stored] == [
        ("ACME", DAY, arena.pk),
        ("BOLT", DAY, arena.pk),
    ]
    for session in stored:
        assert session.status == DebateStatus.RUNNING and session.attempts == 1
        assert session.started_at is not None and session.started_at >= before
        assert session.lease_expires_at == session.started_at + dt.timedelta(minutes=7)
        assert session.requested_by is None


def test_another_worker_cannot_claim_a_session_until_its_lease_expires(arena: Panel) -> None:
    (session,) = debate_sessions_create(requests=_requests(arena, ("ACME", DAY)))

    assert not debate_session_claim(session_id=session.pk)  # the creator's lease holds

    DebateSession.objects.filter(pk=session.pk).update(lease_expires_at=F("started_at"))  # it died
    assert debate_session_claim(session_id=session.pk)
    session.refresh_from_db()
    assert session.attempts == 2  # the fencing token moved: the first worker's writes are refused


def test_the_default_lease_is_the_debate_lease_setting(arena: Panel, settings) -> None:
    settings.ARENA_DEBATE_LEASE_SECONDS = 90
    (session,) = debate_sessions_create(requests=_requests(arena, ("ACME", DAY)))
    assert session.lease_expires_at == session.started_at + dt.timedelta(seconds=90)


@pytest.mark.parametrize("market", [None, EmbeddedSource()], ids=["bars-table", "market"])
@pytest.mark.parametrize(
    ("symbol", "as_of", "field"),
    [("ZZZZ", DAY, "symbol"), ("BOLT", BEFORE_ANY_BAR, "as_of")],
    ids=["unknown-symbol", "no-bar-on-or-before"],
)
def test_a_bad_request_rejects_the_whole_batch_and_writes_nothing(
    arena: Panel, market: EmbeddedSource | None, symbol: str, as_of: dt.date, field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        debate_sessions_create(requests=_requests(arena, ("ACME", DAY), (symbol, as_of)), market=market)

    assert list(caught.value.extra["fields"]) == [field]
    assert symbol in caught.value.message
    assert not DebateSession.objects.exists()


def test_a_symbol_without_any_bars_is_rejected_on_its_date(arena: Panel) -> None:
    Instrument.objects.create(symbol="NEWCO")
    with pytest.raises(InvalidInputError) as caught:
        debate_sessions_create(requests=_requests(arena, ("NEWCO", DAY)))
    assert list(caught.value.extra["fields"]) == ["as_of"]
    assert not DebateSession.objects.exists()


def test_an_unsaved_panel_is_rejected(arena: Panel) -> None:
    with pytest.raises(InvalidInputError) as caught:
        debate_sessions_create(requests=_requests(Panel(name="draft"), ("ACME", DAY)))
    assert list(caught.value.extra["fields"]) == ["panel"]
    assert not DebateSession.objects.exists()


def test_an_empty_batch_writes_nothing(arena: Panel, django_assert_num_queries) -> None:
    with django_assert_num_queries(0):
        assert debate_sessions_create(requests=[]) == []
