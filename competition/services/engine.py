"""The backtest engine: step a run day by day, every entry on the same bars, nothing from the future.

Each trading day D of the period, in this order:

1. the fills dated D (orders placed on D-1, filled at D's open by the simulated broker) move each
   entry's book; the book at D's close is stored as the entry's equity point for D;
2. on a rebalance day, each trader debates every symbol *as of D* through the debate service: the
   market source returns no bar after D, the account the agents read is the book as of D; each
   decision goes through the outcomes pipeline (order intent, sizing, risk checks) and, once all of
   the day's decisions are made, the approved intents are submitted to the simulated broker, which
   fills them at D+1's open; the baselines place their own orders the same way, minus the debate;
3. the run's progress is recorded with its lease; a cancelled run stops here.

No decision is taken on the last day (its order could only fill after the period). Every step is
idempotent - a decision row per (entry, symbol, day), an intent per decision, a client order id
per baseline order, an equity point per (entry, day) - so a run interrupted anywhere resumes from
its last completed day without debating or trading twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

import numpy as np
from django.db import transaction
from django.db.models import QuerySet

from arena_project.bulk import bulk_update_rows
from debates.market.sources import AccountSource, MarketDataSource
from debates.models import DebateConsensus, DebateStatus
from debates.services import (
    DebateSessionRequest,
    debate_session_claim,
    debate_sessions_create,
    debate_sessions_run_batch,
)
from outcomes.brokers.base import BrokerError, OrderRequest
from outcomes.brokers.simulated import last_close
from outcomes.models import (
    IntentStatus,
    OrderIntent,
    OrderType,
    Outcome,
    OutcomeStatus,
    Side,
    TimeInForce,
    TradingAccount,
)
from outcomes.services import (
    decision_trade_open,
    order_intent_claim,
    order_intent_submit,
    order_submission_deferred,
    session_accounts_attach,
)
from outcomes.services.batches import (
    outcomes_settle_many,
    simulated_intents_submit,
    simulated_orders_find_or_place,
)

from ..calendar import is_rebalance_day, trading_days
from ..market import BacktestMarketSource
from ..models import (
    CompetitionDecision,
    CompetitionEntry,
    CompetitionRun,
    EntryKind,
    EquityPoint,
    RebalanceFrequency,
    RunStatus,
)
from .book import Book, BookAccountSource, fills_query
from .runs import competition_run_finish, competition_run_heartbeat
from .scoring import competition_scores_compute

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
BPS = Decimal(10_000)
RANDOM_SIZING_FRACTION = Decimal("0.10")  # the random trader's full-size order, as a trader's default
BUY_AND_HOLD_INVESTED = Decimal("0.98")  # leaves room for the gap to the next open, slippage and fees
SUBMISSION_WAIT_S = 30.0


class StepResult:
    COMPLETED = "completed"
    PAUSED = "paused"  # the slice's time ran out; the run continues in a new task
    STOPPED = "stopped"  # cancelled, taken over, or stopped by the budget


@dataclass
class _Participant:
    entry: CompetitionEntry
    book: Book
    frequency: str


class _Stepper:
    """What backtests and paper ticks share: a trader's debates and trades, the baselines' orders."""

    run: CompetitionRun
    market: MarketDataSource

    def _trader_day(
        self, entry: CompetitionEntry, day: dt.date, symbols: list[str], accounts: AccountSource | None
    ) -> None:
        """One trader's day (paper ticks): see :meth:`_traders_day`."""
        self._traders_day([(entry, accounts)], day, symbols)

    def _traders_day(
        self, seats: list[tuple[CompetitionEntry, AccountSource | None]], day: dt.date, symbols: list[str]
    ) -> None:
        """Every seat's debates of the day first (intents sized on the books as they were at the close),
        then the submissions: none of the day's orders can move a book its later decisions are sized on.

        The day's missing decisions (with their sessions and account links) are created in one
        transaction, the day's debates run as one batch (``debate_sessions_run_batch``: computed one
        after the other, written in one transaction, the trades opened on its commit in decision
        order), and their outcomes read back in one query; an existing decision (a retried day)
        reuses its debate, and runs it only if it never finished.
        """
        by_entry = {entry.pk: (entry, accounts) for entry, accounts in seats}
        decisions = {
            (d.entry_id, d.symbol): d
            for d in CompetitionDecision.objects.filter(entry_id__in=list(by_entry), date=day).select_related(
                "session"
            )
        }
        missing = [(e, s) for e, _a in seats for s in symbols if (e.pk, s) not in decisions]
        created = _decisions_create(missing, day, self._bars_market()) if missing else []
        decisions.update(((d.entry_id, d.symbol), d) for d in created)
        fresh = {d.session_id for d in created}
        ordered = [decisions[(e.pk, s)] for e, _a in seats for s in symbols]
        due = [d for d in ordered if self._debate_due(d, claimed=d.session_id in fresh)]
        # The day's debates in one batch: computed one after the other, written in one transaction;
        # the trades open on its commit (``consensus_batch_created``), in decision order.
        with order_submission_deferred():
            sessions = debate_sessions_run_batch(
                runs=[(_session_id(d), by_entry[d.entry_id][1]) for d in due], market=self.market
            )
        for decision, session in zip(due, sessions, strict=True):
            entry = by_entry[decision.entry_id][0]
            decision.session = session
            entry.decisions += 1
            entry.cost_usd += session.total_cost_usd
        changed, approved = _decisions_record_actions(ordered)
        bulk_update_rows(CompetitionDecision, changed, ["action", "size"])
        for entry, _a in seats:
            self._submit_approved(entry, day, approved.get(entry.pk, []))

    def _bars_market(self) -> MarketDataSource | None:
        """Where the day's new debates' bars are checked: None, the bars table (one query)."""
        return None

    def _debate_due(self, decision: CompetitionDecision, *, claimed: bool) -> bool:
        """Whether the decision's debate is to run now: not if it already ran (a retried day).
        ``claimed``: its session was created claimed by this worker (:func:`_decisions_create`); any
        other queued or running one (left by an earlier attempt at the day) is claimed first."""
        session = decision.session
        assert session is not None  # noqa: S101 - trader decisions always have a debate
        if session.status not in (DebateStatus.QUEUED, DebateStatus.RUNNING):
            return False
        if not claimed and not debate_session_claim(session_id=session.pk):
            logger.warning("run %s: debate %s is held by another worker; no trade", self.run.pk, session.pk)
            return False
        return True

    def _submit_approved(self, entry: CompetitionEntry, day: dt.date, approved: list[int]) -> None:
        """Submit the day's approved intents in decision order, then wait for any a worker took.

        ``approved``: the approved intents of the day's decisions, as read after the debates (a
        broker on the network gets every approved intent of the day, one by one)."""
        intents = OrderIntent.objects.filter(account=entry.account, as_of=day)
        for intent_id in (
            intents.filter(status=IntentStatus.APPROVED).order_by("id").values_list("pk", flat=True)
        ):
            if order_intent_claim(intent_id=intent_id):
                order_intent_submit(intent_id=intent_id)
        _wait_for_submissions(intents, f"{entry.label} on {day}")

    def _buy_and_hold(self, entry: CompetitionEntry, book: Book, day: dt.date, symbols: list[str]) -> None:
        """Equal weight in every symbol at the first open, held to the end."""
        assert entry.account is not None  # noqa: S101 - every entry has an account
        equity = book.equity(lambda s: self._close(s, day))
        slip = 1 + entry.account.slippage_bps / BPS
        share = equity * BUY_AND_HOLD_INVESTED / len(self.run.symbols)
        plan = []
        for symbol in symbols:
            close = self._close(symbol, day)
            quantity = (share / (close * slip)).to_integral_value(ROUND_DOWN) if close else ZERO
            plan.append(_BaselineMove(symbol, Side.BUY, quantity, 1.0))
        self._baseline_day(entry, day, plan)

    def _random_day(self, entry: CompetitionEntry, book: Book, day: dt.date, symbols: list[str]) -> None:
        """For each symbol, buy, sell or hold at random with a random size (seeded by run, day, symbol)."""
        equity = book.equity(lambda s: self._close(s, day))
        plan = []
        for symbol in symbols:
            rng = np.random.Generator(
                np.random.PCG64([self.run.seed, day.toordinal(), zlib.crc32(symbol.encode())])
            )
            action = ("buy", "sell", "hold")[int(rng.integers(0, 3))]
            size = float(rng.random())
            close = self._close(symbol, day)
            if action == "hold" or not close:
                plan.append(_BaselineMove(symbol, "hold", ZERO, 0.0))
                continue
            notional = equity * RANDOM_SIZING_FRACTION * Decimal(str(round(size, 6)))
            quantity = (notional / close).to_integral_value(ROUND_DOWN)
            if action == "sell":
                quantity = min(quantity, book.quantity(symbol).to_integral_value(ROUND_DOWN))
            plan.append(_BaselineMove(symbol, action, quantity, size))
        self._baseline_day(entry, day, plan)

    def _close(self, symbol: str, day: dt.date) -> Decimal | None:
        return last_close(symbol, day)

    def _baseline_day(self, entry: CompetitionEntry, day: dt.date, plan: list[_BaselineMove]) -> None:
        """A baseline's decision rows for the day (once) and its orders, straight to the simulated
        broker in one batch; an order placed by an earlier attempt at the day is found, not placed."""
        assert entry.account is not None  # noqa: S101 - every entry has an account
        done = set(CompetitionDecision.objects.filter(entry=entry, date=day).values_list("symbol", flat=True))
        rows = CompetitionDecision.objects.bulk_create(
            CompetitionDecision(entry=entry, symbol=m.symbol, date=day, action=m.action, size=m.size)
            for m in plan
            if m.symbol not in done
        )
        entry.decisions += len(rows)
        moves = [m for m in plan if m.action != "hold" and m.quantity > 0]
        requests = [
            OrderRequest(
                client_order_id=f"cmp-{entry.pk}-{m.symbol}-{day:%Y%m%d}",
                symbol=m.symbol,
                side=m.action,
                quantity=m.quantity,
                order_type=OrderType.MARKET,
                limit_price=None,
                time_in_force=TimeInForce.DAY,
                as_of=day,
                metadata={"competition_run": self.run.pk, "entry": entry.pk},
            )
            for m in moves
        ]
        if not requests:
            return
        with transaction.atomic():
            account = TradingAccount.objects.select_for_update().get(pk=entry.account.pk)
            answers = simulated_orders_find_or_place(account=account, requests=requests)
        for move, answer in zip(moves, answers, strict=True):
            if isinstance(answer, BrokerError):
                logger.info(
                    "run %s %s: %s %s refused: %s",
                    self.run.pk,
                    entry.label,
                    move.action,
                    move.symbol,
                    answer.message,
                )


def _session_id(decision: CompetitionDecision) -> int:
    assert decision.session_id is not None  # noqa: S101 - trader decisions always have a debate
    return decision.session_id


@dataclass(frozen=True)
class _BaselineMove:
    symbol: str
    action: str  # buy, sell or hold
    quantity: Decimal
    size: float


def _wait_for_submissions(intents: QuerySet[OrderIntent], what: str) -> None:
    """Wait for intents another worker is submitting (one left approved is picked up by recovery)."""
    waited = time.monotonic() + SUBMISSION_WAIT_S
    while intents.filter(status__in=[IntentStatus.APPROVED, IntentStatus.SUBMITTING]).exists():
        if time.monotonic() > waited:
            raise RuntimeError(f"Intents of {what} are still being submitted elsewhere.")
        time.sleep(0.1)


@transaction.atomic
def _decisions_create(
    pairs: list[tuple[CompetitionEntry, str]], day: dt.date, market: MarketDataSource | None = None
) -> list[CompetitionDecision]:
    """A decision row per (trader entry, symbol) for ``day``, each with its debate session - created
    already claimed by this worker - attached to the entry's account; one transaction, three inserts.

    The sessions come from ``debate_sessions_create`` (claimed, never enqueued: the engine runs them
    itself, so nobody else can claim them in between; their bars checked in ``market`` when given,
    else in the bars table) and their accounts from ``session_accounts_attach``.
    """
    requests, accounts = [], []
    for entry, symbol in pairs:
        assert entry.trader is not None and entry.account is not None  # noqa: S101 - a trader entry
        requests.append(DebateSessionRequest(symbol=symbol, as_of=day, panel=entry.trader.panel))
        accounts.append(entry.account)
    sessions = debate_sessions_create(requests=requests, market=market)
    session_accounts_attach(links=list(zip(sessions, accounts, strict=True)))
    return CompetitionDecision.objects.bulk_create(
        CompetitionDecision(entry=entry, symbol=symbol, date=day, session=session)
        for session, (entry, symbol) in zip(sessions, pairs, strict=True)
    )


def _decisions_record_actions(
    decisions: list[CompetitionDecision],
) -> tuple[list[CompetitionDecision], dict[int, list[int]]]:
    """Copy each completed debate's decision (action, size) onto its row - one query for the day - and
    open the trade of any whose ``consensus_created`` receiver did not (it logged why).

    Returns the rows that changed, and per entry the ids of its approved intents in decision order.
    """
    by_session = {d.session_id: d for d in decisions if d.session is not None}
    rows = (
        DebateConsensus.objects.filter(session_id__in=list(by_session))
        .order_by("id")
        .values_list(
            "session_id", "id", "action", "size", "outcome", "outcome__intent", "outcome__intent__status"
        )
    )
    changed = []
    approved: dict[int, list[int]] = defaultdict(list)
    for session_id, consensus_id, action, size, outcome_id, intent_id, intent_status in rows:
        decision = by_session[session_id]
        if decision.session is None or decision.session.status != DebateStatus.COMPLETED:
            continue
        if outcome_id is None:
            outcome = decision_trade_open(consensus_id=consensus_id)
            intent_id = outcome.intent_id
            intent_status = outcome.intent.status if outcome.intent is not None else None
        if intent_id is not None and intent_status in (IntentStatus.APPROVED, IntentStatus.SUBMITTING):
            approved[decision.entry_id].append(intent_id)
        if decision.action != action:
            decision.action, decision.size = action, size
            changed.append(decision)
    for ids in approved.values():
        ids.sort()
    return changed, approved


class BacktestEngine(_Stepper):
    """Steps one claimed backtest run from where it stands. Not thread-safe; one per task."""

    market: BacktestMarketSource

    def __init__(
        self,
        run: CompetitionRun,
        *,
        deadline: float | None = None,
        on_day: Callable[[CompetitionRun], None] | None = None,
    ) -> None:
        assert run.start_date is not None and run.end_date is not None  # noqa: S101 - a backtest has a period
        self.run = run
        self.deadline = deadline
        self.on_day = on_day
        self.days = trading_days(run.symbols, run.start_date, run.end_date)
        self.market = BacktestMarketSource.load(run.symbols, through=run.end_date)
        self.participants = self._participants()

    def _close(self, symbol: str, day: dt.date) -> Decimal | None:
        return self.market.close(symbol, day)

    def _bars_market(self) -> MarketDataSource | None:
        """The run's bars in memory, which the debates read: checking them there costs no query."""
        return self.market

    def _submit_approved(self, entry: CompetitionEntry, day: dt.date, approved: list[int]) -> None:
        """The day's approved intents of the entry, in decision order, through the simulated broker in
        one batch (a backtest account is always simulated); then wait for any another worker took."""
        assert entry.account_id is not None  # noqa: S101 - every entry has an account
        if not approved:
            return
        taken = simulated_intents_submit(account_id=entry.account_id, intent_ids=approved)
        if len(taken) < len(approved):
            _wait_for_submissions(OrderIntent.objects.filter(pk__in=approved), f"{entry.label} on {day}")

    def _participants(self) -> list[_Participant]:
        entries = list(
            CompetitionEntry.objects.filter(run=self.run)
            .select_related("trader__panel", "account")
            .order_by("id")
        )
        through = self.run.last_date
        fills = (
            fills_query([e.account_id for e in entries if e.account_id], through=through) if through else []
        )
        result = []
        for entry in entries:
            assert entry.account is not None  # noqa: S101 - every entry is created with its account
            book = Book(cash=entry.account.starting_cash)
            for fill in fills:
                if fill.account_id == entry.account_id:
                    book.apply(fill)
            frequency = entry.trader.rebalance_frequency if entry.trader else RebalanceFrequency.DAILY
            result.append(_Participant(entry, book, frequency))
        return result

    # --- the day loop ---------------------------------------------------------------------------

    def advance(self) -> str:
        """Step the remaining days; returns a StepResult. Finishes (scores, completed) at the end."""
        start = (
            0
            if self.run.last_date is None
            else next((i for i, d in enumerate(self.days) if d > self.run.last_date), len(self.days))
        )
        if self.run.days_total != len(self.days):
            CompetitionRun.objects.filter(pk=self.run.pk).update(days_total=len(self.days))
            self.run.days_total = len(self.days)
        for index in range(start, len(self.days)):
            day = self.days[index]
            self._step(index, day)
            if not self._record_progress(index, day):
                return StepResult.STOPPED
            if self._over_budget():
                competition_run_finish(
                    run_id=self.run.pk,
                    status=RunStatus.FAILED,
                    error=f"Stopped on {day}: spent ${self.run.cost_usd} of a ${self.run.budget_usd} budget.",
                )
                return StepResult.STOPPED
            if self.on_day is not None:
                self.on_day(self.run)
            if self.deadline is not None and time.monotonic() > self.deadline and index < len(self.days) - 1:
                return StepResult.PAUSED
        self._settle_outcomes()
        competition_scores_compute(run=self.run)
        competition_run_finish(run_id=self.run.pk, status=RunStatus.COMPLETED)
        return StepResult.COMPLETED

    def _settle_outcomes(self) -> None:
        """Score the run's decisions whose horizon the bars already cover (the leaderboard's input);
        the rest are settled by the outcomes schedule as bars arrive."""
        pending = Outcome.objects.filter(
            account__competition_entry__run=self.run, status=OutcomeStatus.PENDING
        ).values_list("pk", flat=True)
        outcomes_settle_many(outcome_ids=list(pending))

    def _step(self, index: int, day: dt.date) -> None:
        by_account = {p.entry.account_id: p for p in self.participants if p.entry.account_id}
        for fill in fills_query(list(by_account), on=day):
            by_account[fill.account_id].book.apply(fill)
        symbols = [s for s in self.run.symbols if self.market.has_bar(s, day)]
        EquityPoint.objects.bulk_create(
            [self._equity_point(p, day) for p in self.participants], ignore_conflicts=True
        )
        deciding = [p for p in self.participants if is_rebalance_day(self.days, index, p.frequency)]
        seats: list[tuple[CompetitionEntry, AccountSource | None]] = [
            (p.entry, BookAccountSource(p.book, self.market.close, p.entry.label))
            for p in deciding
            if p.entry.kind == EntryKind.TRADER
        ]
        if seats:
            self._traders_day(seats, day, symbols)
        for participant in deciding:
            entry, book = participant.entry, participant.book
            if entry.kind == EntryKind.BUY_AND_HOLD:
                if index == 0:
                    self._buy_and_hold(entry, book, day, symbols)
            elif entry.kind == EntryKind.RANDOM:
                self._random_day(entry, book, day, symbols)
        for participant in self.participants:
            participant.entry.last_date = day
        bulk_update_rows(
            CompetitionEntry, [p.entry for p in self.participants], ["last_date", "decisions", "cost_usd"]
        )

    def _equity_point(self, participant: _Participant, day: dt.date) -> EquityPoint:
        close = self._closer(day)
        book = participant.book
        return EquityPoint(
            entry=participant.entry,
            date=day,
            equity=book.equity(close).quantize(Decimal("0.0001")),
            cash=book.cash.quantize(Decimal("0.0001")),
            gross_exposure=book.gross_exposure(close).quantize(Decimal("0.0001")),
            cost_usd=participant.entry.cost_usd,
        )

    def _closer(self, day: dt.date) -> Callable[[str], Decimal | None]:
        return lambda symbol: self.market.close(symbol, day)

    def _record_progress(self, index: int, day: dt.date) -> bool:
        self.run.last_date = day
        self.run.days_done = index + 1
        self.run.progress = (index + 1) / len(self.days)
        self.run.cost_usd = sum((p.entry.cost_usd for p in self.participants), ZERO)
        return competition_run_heartbeat(
            run_id=self.run.pk,
            last_date=day,
            days_done=self.run.days_done,
            progress=self.run.progress,
            cost_usd=self.run.cost_usd,
        )

    def _over_budget(self) -> bool:
        budget = self.run.budget_usd
        return budget is not None and not self.run.confirmed and self.run.cost_usd > budget


def competition_backtest_advance(
    *,
    run_id: int,
    deadline: float | None = None,
    on_day: Callable[[CompetitionRun], None] | None = None,
) -> str:
    """Step a claimed backtest until it ends, is stopped, or ``deadline`` (time.monotonic()) passes.

    The caller holds the claim (``competition_run_claim``). A crash marks the run failed with the
    reason (the run's days so far stay recorded).
    """
    run = CompetitionRun.objects.get(pk=run_id)
    if run.status != RunStatus.RUNNING:
        return StepResult.STOPPED
    try:
        return BacktestEngine(run, deadline=deadline, on_day=on_day).advance()
    except Exception as exc:
        logger.exception("competition run %s crashed", run_id)
        competition_run_finish(run_id=run_id, status=RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
