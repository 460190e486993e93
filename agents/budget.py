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
from django.db.models import DecimalField, ExpressionWrapper, F, Value
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


def _try_reserve(window_id: int, cap: Decimal, amount: Decimal) -> bool:
    room = ExpressionWrapper(
        Value(cap - amount, output_field=_MONEY) - F("reserved_usd"), output_field=_MONEY
    )
    updated = BudgetWindow.objects.filter(pk=window_id, spent_usd__lte=room).update(
        reserved_usd=F("reserved_usd") + Value(amount, output_field=_MONEY)
    )
    return updated == 1


def budget_reserve(
    *, profile_id: int, amount: Decimal, ttl: dt.timedelta
) -> BudgetHold | BudgetDenial | None:
    """Hold ``amount`` against the profile's cap for this period.

    Returns ``None`` when the profile has no cap (nothing to hold), a :class:`BudgetHold` when the
    amount fits, or a :class:`BudgetDenial` when it does not (the call must not be made). Expired
    reservations in the window are charged and released before a refusal is final.
    """
    profile = AgentProfile.objects.only("name", "budget_usd", "budget_period").get(pk=profile_id)
    if profile.budget_usd is None:
        return None
    cap = Decimal(profile.budget_usd)
    window = budget_window_get(profile=profile)
    for attempt in range(2):
        with transaction.atomic():
            if _try_reserve(window.pk, cap, amount):
                reservation = BudgetReservation.objects.create(
                    window_id=window.pk, amount_usd=amount, expires_at=timezone.now() + ttl
                )
                return BudgetHold(reservation.pk, window.pk, amount)
        if attempt == 0 and not budget_expire(window_id=window.pk):
            break
    window.refresh_from_db()
    return BudgetDenial(
        profile=profile.name,
        cap=cap,
        period=profile.budget_period,
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
