"""Hard spending caps per profile and period: reserve the worst case before a call, settle after.

The invariant is ``spent + reserved <= cap`` for every window (a profile's budget period). A call
first reserves its worst-case cost with ONE conditional UPDATE that only matches while the sum still
fits, so two workers can never both take the last cents: on PostgreSQL the second UPDATE waits for
the first's row lock and then re-evaluates its condition against the new row. After the call the
reservation is settled to the actual cost (the hold is released, the cost added to ``spent``).

What is charged when the actual cost is not known:

* an answer without usage, or a timeout / dropped connection after the request was sent: the
  provider may have billed it, so the reservation is charged in full (the cap stays honest);
* an HTTP error response (4xx/5xx): providers do not bill those, so nothing is charged;
* a reservation left open by a process that died (past ``expires_at``): charged in full when it is
  expired, which happens whenever a reservation in that window is refused.

Profiles without a cap skip all of this: no query is made for them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import DecimalField, ExpressionWrapper, F, Subquery, Value
from django.utils import timezone

from agents.models import AgentProfile, BudgetPeriod, BudgetReservation, BudgetWindow

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MONEY = DecimalField(max_digits=18, decimal_places=10)


@dataclass(frozen=True)
class BudgetHold:
    """A granted reservation: settle it with :func:`budget_settle` exactly once."""

    reservation_id: int
    window_id: int
    amount: Decimal


@dataclass(frozen=True)
class BudgetDenial:
    """Why a reservation was refused: the call would take the window past its cap."""

    profile: str
    cap: Decimal
    period: str
    spent: Decimal
    reserved: Decimal
    needed: Decimal

    @property
    def message(self) -> str:
        return (
            f"Budget of {self.profile} exhausted: cap ${self.cap} per {self.period}, "
            f"spent ${self.spent:.6f}, held by calls in flight ${self.reserved:.6f}; "
            f"this call needs up to ${self.needed:.6f}."
        )


def period_start(period: str, now: dt.datetime) -> dt.datetime:
    """The UTC start of the budget period containing ``now``."""
    now = now.astimezone(dt.UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == BudgetPeriod.DAY:
        return day
    if period == BudgetPeriod.WEEK:
        return day - dt.timedelta(days=day.weekday())
    if period == BudgetPeriod.MONTH:
        return day.replace(day=1)
    return EPOCH


def budget_window_get(*, profile: AgentProfile, now: dt.datetime | None = None) -> BudgetWindow:
    """The profile's window for the current period, created on first use (race-safe)."""
    starts_at = period_start(profile.budget_period, now or timezone.now())
    window, _created = BudgetWindow.objects.get_or_create(
        profile=profile, period=profile.budget_period, starts_at=starts_at
    )
    return window


# Window ids by (profile, period, start): a window row is never deleted while its profile exists,
# so the lookup is needed once per process and period (a stale id only costs one slow path).
_window_ids: dict[tuple[int, str, dt.datetime], int] = {}


def _window_id(profile_id: int, period: str, starts_at: dt.datetime, *, create: bool = False) -> int | None:
    """The window's id: cached, else looked up, else (with ``create``) created (race-safe)."""
    key = (profile_id, period, starts_at)
    if key in _window_ids and not create:
        return _window_ids[key]
    if create:
        window, _created = BudgetWindow.objects.get_or_create(
            profile_id=profile_id, period=period, starts_at=starts_at
        )
        found: int | None = window.pk
    else:
        found = (
            BudgetWindow.objects.filter(profile_id=profile_id, period=period, starts_at=starts_at)
            .values_list("pk", flat=True)
            .first()
        )
    if found is not None:
        _window_ids[key] = found
    return found


def _try_reserve(
    window_id: int, profile_id: int, period: str, amount: Decimal, ttl: dt.timedelta
) -> BudgetHold | None:
    """The conditional UPDATE: hold ``amount`` only while spent + reserved + amount <= the cap.

    The cap is read in the same statement (a subquery on the profile), so a cap changed a moment
    ago applies at once; a profile whose cap was removed matches nothing here (NULL comparison).
    The row must also still be this profile's window for this period: a stale cached id (a test
    database rolled back, ids reused) then matches nothing and the slow path looks it up again.
    """
    cap = Subquery(AgentProfile.objects.filter(pk=profile_id).values("budget_usd")[:1], output_field=_MONEY)
    room = ExpressionWrapper(
        cap - Value(amount, output_field=_MONEY) - F("reserved_usd"), output_field=_MONEY
    )
    with transaction.atomic():
        mine = BudgetWindow.objects.filter(pk=window_id, profile_id=profile_id, period=period)
        updated = mine.filter(spent_usd__lte=room).update(
            reserved_usd=F("reserved_usd") + Value(amount, output_field=_MONEY)
        )
        if updated != 1:
            return None
        reservation = BudgetReservation.objects.create(
            window_id=window_id, amount_usd=amount, expires_at=timezone.now() + ttl
        )
    return BudgetHold(reservation.pk, window_id, amount)


def budget_reserve(
    *, profile_id: int, amount: Decimal, ttl: dt.timedelta, period: str | None = None
) -> BudgetHold | BudgetDenial | None:
    """Hold ``amount`` against the profile's cap for its current period.

    Returns a :class:`BudgetHold` when the amount fits, a :class:`BudgetDenial` when it does not
    (the call must not be made), or ``None`` when the profile has no cap (nothing to hold).
    The common case is two statements in one transaction; refusals take the slow path, which
    charges expired reservations (their process died) and tries once more before refusing.
    ``period`` is the profile's budget period if the caller knows it (saves a query).
    """
    if period is None:
        period = AgentProfile.objects.values_list("budget_period", flat=True).get(pk=profile_id)
    starts_at = period_start(period, timezone.now())
    window_id = _window_id(profile_id, period, starts_at)
    if window_id is not None:
        hold = _try_reserve(window_id, profile_id, period, amount, ttl)
        if hold is not None:
            return hold
    profile = AgentProfile.objects.only("name", "budget_usd", "budget_period").get(pk=profile_id)
    if profile.budget_usd is None:
        return None  # no cap: no window is created for it
    window_id = _window_id(profile_id, period, starts_at, create=True)
    assert window_id is not None  # noqa: S101 - created above
    budget_expire(window_id=window_id)
    hold = _try_reserve(window_id, profile_id, period, amount, ttl)
    if hold is not None:
        return hold
    window = BudgetWindow.objects.get(pk=window_id)
    return BudgetDenial(
        profile=profile.name,
        cap=Decimal(profile.budget_usd),
        period=period,
        spent=window.spent_usd,
        reserved=window.reserved_usd,
        needed=amount,
    )


def budget_settle(*, hold: BudgetHold, charged: Decimal) -> bool:
    """Release the hold and add ``charged`` to the window's spend; a second settle does nothing.

    Returns whether this call settled it (an expiry may have got there first).
    """
    charged = max(charged, Decimal(0))
    with transaction.atomic():
        settled = BudgetReservation.objects.filter(pk=hold.reservation_id, settled_at__isnull=True).update(
            settled_at=timezone.now(), charged_usd=charged
        )
        if settled:
            BudgetWindow.objects.filter(pk=hold.window_id).update(
                reserved_usd=F("reserved_usd") - Value(hold.amount, output_field=_MONEY),
                spent_usd=F("spent_usd") + Value(charged, output_field=_MONEY),
            )
    return bool(settled)


def budget_expire(*, window_id: int | None = None, now: dt.datetime | None = None) -> int:
    """Charge reservations whose call never settled (its process died) at their worst case.

    Returns how many were expired. Safe to run concurrently with settles: each reservation is
    settled at most once.
    """
    expired = BudgetReservation.objects.filter(settled_at__isnull=True, expires_at__lt=now or timezone.now())
    if window_id is not None:
        expired = expired.filter(window_id=window_id)
    count = 0
    for reservation_id, win, amount in expired.values_list("pk", "window_id", "amount_usd")[:500]:
        count += budget_settle(hold=BudgetHold(reservation_id, win, amount), charged=amount)
    return count
