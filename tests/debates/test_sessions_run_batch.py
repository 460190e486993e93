"""debate_sessions_run_batch: claimed sessions computed one after another, written in one transaction.

The batch must store exactly what running the same sessions one at a time stores, keep each session's
guarantees (ownership, cancel, failure), and write nothing at all when its transaction fails.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.db.models import F, Model
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import Panel
from debates import services
from debates.market.sources import PaperAccountSource
from debates.models import (
    DebateConsensus,
    DebateMessage,
    DebateRound,
    DebateSession,
    DebateStatus,
    LlmCall,
    ToolCall,
)
from debates.services import (
    DebateSessionRequest,
    debate_session_run,
    debate_sessions_create,
    debate_sessions_run_batch,
)
from debates.signals import consensus_batch_created, consensus_created
from outcomes.models import Outcome

pytestmark = pytest.mark.django_db

DAYS = [dt.date(2024, 3, 1), dt.date(2024, 3, 4), dt.date(2024, 3, 5)]
SYMBOLS = ["ACME", "BOLT"]
# Not compared: keys, the links to them, clocks and measured durations.
VOLATILE = {"id", "session", "message", "created_at", "updated_at", "started_at", "finished_at"}
VOLATILE_SESSION = VOLATILE | {"lease_expires_at"}


def _sessions(panel: Panel) -> list[DebateSession]:
    requests = [DebateSessionRequest(symbol=s, as_of=d, panel=panel) for d in DAYS for s in SYMBOLS]
    return debate_sessions_create(requests=requests)


def _fields(row: Model, skip: set[str]) -> dict[str, Any]:
    return {
        f.attname.removesuffix("_id") if f.attname != "id" else "id": getattr(row, f.attname)
        for f in row._meta.concrete_fields
        if f.name not in skip and "latency" not in f.name
    }


def _stored(session: DebateSession) -> dict[str, Any]:
    """Everything a debate stored, field by field, ordered so that two runs compare equal."""
    session.refresh_from_db()
    consensus = DebateConsensus.objects.filter(session=session).first()
    return {
        "session": _fields(session, VOLATILE_SESSION),
        "tool_calls": [_fields(c, VOLATILE) for c in session.tool_calls.order_by("sequence")],
        "messages": [_fields(m, VOLATILE) for m in session.messages.order_by("round", "role")],
        "ledger": [
            _fields(c, VOLATILE)
            for c in LlmCall.objects.filter(session=session).order_by("message__round", "role", "attempt")
        ],
        "rounds": [_fields(r, VOLATILE) for r in session.rounds.order_by("number")],
        "consensus": _fields(consensus, VOLATILE) if consensus else None,
    }


def _assert_returned_as_stored(returned: list[DebateSession]) -> None:
    """The sessions the batch returns hold the stored state (it does not read them back)."""
    fields = ("status", "error", "attempts", "total_cost_usd", "finished_at", "lease_expires_at")
    for session in returned:
        stored = DebateSession.objects.get(pk=session.pk)
        assert [getattr(session, f) for f in fields] == [getattr(stored, f) for f in fields]


def test_the_batch_stores_what_one_at_a_time_stores(arena: Panel) -> None:
    one_by_one = _sessions(arena)
    for session in one_by_one:
        debate_session_run(session_id=session.pk)
    batched = _sessions(arena)

    returned = debate_sessions_run_batch(runs=[(s.pk, None) for s in batched])

    assert [s.pk for s in returned] == [s.pk for s in batched]
    assert all(s.status == DebateStatus.COMPLETED for s in returned)
    for single, batch in zip(one_by_one, batched, strict=True):
        expected, got = _stored(single), _stored(batch)
        assert got == expected
        assert got["consensus"] is not None and len(got["messages"]) == 6 and len(got["tool_calls"]) == 4
    _assert_returned_as_stored(returned)


def test_the_batch_reads_its_bar_histories_once_per_symbol_and_none_past_a_debates_date(
    arena: Panel,
) -> None:
    sessions = _sessions(arena)  # 3 dates x 2 symbols, no market given: the configured embedded one
    with CaptureQueriesContext(connection) as captured:
        returned = debate_sessions_run_batch(runs=[(s.pk, None) for s in sessions])
    assert {s.status for s in returned} == {DebateStatus.COMPLETED}
    bar_reads = [q for q in captured if '"debates_bar"."volume" AS "volume" FROM "debates_bar"' in q["sql"]]
    assert len(bar_reads) == len(SYMBOLS)
    for session in sessions:
        history = session.tool_calls.get(tool="get_bars").result_document["bars"]
        assert history[-1]["date"] == session.as_of.isoformat() and len(history) == 260


def test_the_batch_reads_its_debates_accounts_together(arena: Panel) -> None:
    sessions = _sessions(arena)  # no account given: each debate reads its trading account's book
    with CaptureQueriesContext(connection) as captured:
        returned = debate_sessions_run_batch(runs=[(s.pk, None) for s in sessions])
    assert {s.status for s in returned} == {DebateStatus.COMPLETED}
    account_reads = [q for q in captured if 'FROM "outcomes_sessionaccount"' in q["sql"]]
    assert len(account_reads) == 1  # not one per debate
    for session in sessions:
        assert session.tool_calls.get(tool="get_account").result["source"] == "simulated:paper-default"


def test_the_batch_is_written_in_a_few_statements_whatever_its_size(arena: Panel) -> None:
    # bars and books in memory, as a backtest's: what is left is the batch's own reads and writes
    from competition.market import BacktestMarketSource

    market = BacktestMarketSource.load(SYMBOLS, through=DAYS[-1])

    def statements(n: int) -> int:
        sessions = _sessions(arena)[:n]
        with CaptureQueriesContext(connection) as captured:
            returned = debate_sessions_run_batch(
                runs=[(s.pk, PaperAccountSource()) for s in sessions], market=market
            )
        assert {s.status for s in returned} == {DebateStatus.COMPLETED}
        return len(captured)

    # the sessions, the panel's seats and fallbacks, the leases (when they fall short of a debate's
    # deadline), then BEGIN, the rows locked and ended, 5 inserts, COMMIT: none of it per debate
    assert statements(2) <= 13 and statements(6) <= 13


def test_one_signal_announces_the_batch_and_the_trades_open_in_order(
    arena: Panel, django_capture_on_commit_callbacks
) -> None:
    batched, single = [], []

    def on_batch(
        sender: Any, *, consensus_ids: list[int], consensuses: list[DebateConsensus], **kw: Any
    ) -> None:
        batched.append((list(consensus_ids), consensuses))

    def on_single(sender: Any, **kw: Any) -> None:
        single.append(kw)

    consensus_batch_created.connect(on_batch)
    consensus_created.connect(on_single)
    try:
        sessions = _sessions(arena)
        with django_capture_on_commit_callbacks(execute=True):
            debate_sessions_run_batch(runs=[(s.pk, None) for s in sessions])
    finally:
        consensus_batch_created.disconnect(on_batch)
        consensus_created.disconnect(on_single)

    assert single == []
    ((ids, consensuses),) = batched
    assert [c.session_id for c in consensuses] == [s.pk for s in sessions]  # decision order
    assert ids == [c.pk for c in consensuses] == sorted(ids)
    assert all(c.session.symbol for c in consensuses)  # sessions loaded, no query needed
    # outcomes' receiver opened each decision's trade
    assert set(Outcome.objects.filter(consensus_id__in=ids).values_list("consensus_id", flat=True)) == set(
        ids
    )


def test_cancelled_superseded_and_crashed_debates_end_right_and_the_others_complete(
    arena: Panel, monkeypatch: pytest.MonkeyPatch
) -> None:
    early, late, superseded, crashed, fine, finished = _sessions(arena)
    debate_session_run(session_id=finished.pk)  # already completed: returned as it is
    DebateSession.objects.filter(pk=early.pk).update(cancel_requested_at=timezone.now(), error="stop it")
    real_debate = services._Run.adebate

    def meanwhile(run: services._Run) -> None:
        mine = DebateSession.objects.filter(pk=run.session.pk)
        if run.session.pk == late.pk:  # a cancel request arrives after the debate, before the write
            mine.update(cancel_requested_at=timezone.now())
        if run.session.pk == superseded.pk:  # its lease ran out and another worker claimed it
            mine.update(attempts=F("attempts") + 1)

    async def debate(run: services._Run) -> Any:
        if run.session.pk == crashed.pk:
            raise RuntimeError("boom")
        outcome = await real_debate(run)
        await sync_to_async(meanwhile, thread_sensitive=True)(run)
        return outcome

    monkeypatch.setattr(services._Run, "adebate", debate)
    returned = debate_sessions_run_batch(
        runs=[(s.pk, None) for s in (early, late, superseded, crashed, fine, finished)]
    )

    by_id = {s.pk: s for s in returned}
    _assert_returned_as_stored(returned)

    def rows(session: DebateSession) -> tuple[int, int, int, int]:
        return (
            ToolCall.objects.filter(session=session).count(),
            DebateMessage.objects.filter(session=session).count(),
            DebateRound.objects.filter(session=session).count(),
            DebateConsensus.objects.filter(session=session).count(),
        )

    assert (by_id[early.pk].status, by_id[early.pk].error) == (DebateStatus.CANCELLED, "stop it")
    assert rows(early) == (0, 0, 0, 0)  # never ran
    assert (by_id[late.pk].status, by_id[late.pk].error) == (DebateStatus.CANCELLED, "Cancelled by request.")
    assert rows(late) == (4, 6, 1, 0)  # what it did and spent is recorded; no decision
    assert by_id[superseded.pk].status == DebateStatus.RUNNING and by_id[superseded.pk].attempts == 2
    assert rows(superseded) == (0, 0, 0, 0)  # the attempt that owns it now writes it
    assert by_id[crashed.pk].status == DebateStatus.FAILED
    assert by_id[crashed.pk].error == "Internal error: RuntimeError: boom"
    assert rows(crashed)[3] == 0
    assert by_id[fine.pk].status == DebateStatus.COMPLETED and rows(fine) == (4, 6, 1, 1)
    assert by_id[finished.pk].status == DebateStatus.COMPLETED and rows(finished) == (4, 6, 1, 1)
    for session in returned:
        assert session.status == DebateStatus.RUNNING or session.lease_expires_at is None


def test_a_failed_write_leaves_the_whole_batch_running_and_nothing_written(
    arena: Panel, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = _sessions(arena)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "messages_save_many", broken)
    with pytest.raises(RuntimeError, match="database went away"):
        debate_sessions_run_batch(runs=[(s.pk, None) for s in sessions])

    ids = [s.pk for s in sessions]
    assert set(DebateSession.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        DebateStatus.RUNNING
    }
    assert not ToolCall.objects.filter(session_id__in=ids).exists()
    assert not DebateConsensus.objects.filter(session_id__in=ids).exists()

    monkeypatch.undo()  # a retry of the batch (the engine's retried day) completes them all
    returned = debate_sessions_run_batch(runs=[(s.pk, None) for s in sessions])
    assert {s.status for s in returned} == {DebateStatus.COMPLETED}
    assert DebateConsensus.objects.filter(session_id__in=ids).count() == len(ids)


def test_a_retried_attempt_in_a_batch_resumes_on_its_recording(arena: Panel) -> None:
    retried, other = _sessions(arena)[:2]
    debate_session_run(session_id=retried.pk)
    expected = _stored(retried)
    context = list(ToolCall.objects.filter(session=retried).values_list("pk", flat=True))
    analysts = list(
        DebateMessage.objects.filter(session=retried).exclude(role="judge").values_list("pk", flat=True)
    )
    # an earlier attempt died after recording its context and the analysts' answers, before the end
    DebateConsensus.objects.filter(session=retried).delete()
    DebateMessage.objects.filter(session=retried, role="judge").delete()
    DebateRound.objects.filter(session=retried).delete()
    DebateSession.objects.filter(pk=retried.pk).update(
        status=DebateStatus.RUNNING, attempts=2, finished_at=None, lease_expires_at=timezone.now()
    )

    returned = debate_sessions_run_batch(runs=[(retried.pk, None), (other.pk, None)])

    assert [s.status for s in returned] == [DebateStatus.COMPLETED, DebateStatus.COMPLETED]
    # resumed: the recorded context and answers kept (same rows), the judge and the rest written once
    assert list(ToolCall.objects.filter(session=retried).values_list("pk", flat=True)) == context
    kept = DebateMessage.objects.filter(session=retried).exclude(role="judge").values_list("pk", flat=True)
    assert sorted(kept) == sorted(analysts)
    got = _stored(retried)
    assert got["session"].pop("attempts") == 2
    expected["session"].pop("attempts")
    assert got == expected


def test_an_unknown_session_is_refused_before_anything_runs(arena: Panel) -> None:
    (session,) = _sessions(arena)[:1]
    with pytest.raises(DebateSession.DoesNotExist):
        debate_sessions_run_batch(runs=[(session.pk, None), (session.pk + 10_000, None)])
    session.refresh_from_db()
    assert session.status == DebateStatus.RUNNING and not ToolCall.objects.filter(session=session).exists()


def test_a_debate_that_cannot_even_start_ends_failed_and_the_others_complete(
    arena: Panel, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken, fine = _sessions(arena)[:2]
    real_start = services._attempt_start

    def attempt_start(session: DebateSession, *args: Any) -> services._Run:
        if session.pk == broken.pk:
            raise LookupError("no account for it")
        return real_start(session, *args)

    monkeypatch.setattr(services, "_attempt_start", attempt_start)
    returned = debate_sessions_run_batch(runs=[(broken.pk, None), (fine.pk, None)])

    assert [s.status for s in returned] == [DebateStatus.FAILED, DebateStatus.COMPLETED]
    assert returned[0].error == "Internal error: LookupError: no account for it"
    assert not DebateConsensus.objects.filter(session=broken).exists()
    _assert_returned_as_stored(returned)


def test_a_batch_whose_histories_cannot_be_read_together_runs_each_debate_on_its_own_read(
    arena: Panel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from debates.market.sources import EmbeddedSource

    def prefetch(self: EmbeddedSource, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the read failed")

    monkeypatch.setattr(EmbeddedSource, "prefetch", prefetch)
    sessions = _sessions(arena)[:2]
    with CaptureQueriesContext(connection) as captured:
        returned = debate_sessions_run_batch(runs=[(s.pk, None) for s in sessions])
    assert {s.status for s in returned} == {DebateStatus.COMPLETED}
    version_reads = [q for q in captured if '"debates_instrument"."bars_version"' in q["sql"]]
    assert len(version_reads) == 2  # each debate asks for its own history, as without a batch
