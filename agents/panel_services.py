"""Writes of panels and their seats, and the rules that tie a panel's policy to its seats.

The staff API (agents/api/panel_views.py) and the admin (agents/admin.py) both validate through
:func:`panel_seats_validate`, so a panel that cannot debate, or whose escalation could never run,
is refused with a message naming the field, wherever it is edited.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from agents.models import (
    PANEL_POLICY_FIELDS,
    AgentProfile,
    EscalationScope,
    Mode,
    Panel,
    PanelSeat,
    PanelStage,
    Role,
)
from arena_project.errors import ConflictError, InvalidInputError

#: Panel fields the API and services may set, besides the seats.
PANEL_FIELDS: tuple[str, ...] = (
    "name",
    "description",
    "is_default",
    "call_timeout_s",
    "deadline_s",
    "quorum",
    *PANEL_POLICY_FIELDS,
)

_FIRST_ROUND = (PanelStage.ANALYST, PanelStage.JUDGE)
_JUDGE_STAGES = (PanelStage.JUDGE, PanelStage.ESCALATION_JUDGE)


@dataclass(frozen=True)
class SeatInput:
    stage: str
    role: str
    profile: AgentProfile


def panel_seats_validate(panel: Panel, seats: Sequence[SeatInput]) -> None:
    """Check the seats against each other and against the panel's policy.

    Raises ValidationError keyed by field (``seats``, ``quorum``, ``escalation_switches_judge``,
    ``escalation_scope``) with every problem found, not just the first.
    """
    seat_errors = _seat_errors(seats)
    errors: dict[str, list[str]] = {"seats": seat_errors} if seat_errors else {}
    stages: dict[str, list[SeatInput]] = {stage: [] for stage in PanelStage.values}
    for seat in seats:
        stages.setdefault(seat.stage, []).append(seat)
    analysts, judges = stages[PanelStage.ANALYST], stages[PanelStage.JUDGE]
    if not analysts or not judges:
        errors.setdefault("seats", []).append("A panel needs at least one first-round analyst and a judge.")
    if analysts and panel.quorum > len(analysts):
        errors["quorum"] = [
            f"Quorum {panel.quorum} is more than the {len(analysts)} first-round analyst seat(s): "
            "the first round could never reach it."
        ]
    if panel.escalates:
        errors.update(_policy_errors(panel, stages))
    if errors:
        raise ValidationError(errors)


def _seat_errors(seats: Sequence[SeatInput]) -> list[str]:
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for seat in seats:
        where = f"{seat.stage}/{seat.role}"
        if (seat.stage, seat.role) in seen:
            problems.append(f"{where}: more than one seat for this role and stage.")
        seen.add((seat.stage, seat.role))
        if (seat.stage in _JUDGE_STAGES) != (seat.role == Role.JUDGE):
            problems.append(f"{where}: judges sit only in the judge stages, analysts only in the others.")
        if seat.profile.role != seat.role:
            problems.append(
                f"{where}: profile {seat.profile.name} plays {seat.profile.role}, not {seat.role}."
            )
        if seat.stage in _FIRST_ROUND and seat.profile.mode == Mode.ESCALATION_ONLY:
            problems.append(
                f"{where}: profile {seat.profile.name} is escalation-only and cannot sit in the first round."
            )
    return problems


def _policy_errors(panel: Panel, stages: dict[str, list[SeatInput]]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    has_judge = bool(stages[PanelStage.ESCALATION_JUDGE])
    reruns = panel.escalation_scope != EscalationScope.NONE and bool(stages[PanelStage.ESCALATION])
    if panel.escalation_switches_judge and not has_judge:
        errors["escalation_switches_judge"] = [
            "Switching the judge on escalation needs an escalation judge seat (or turn the switch off)."
        ]
    if panel.escalation_scope != EscalationScope.NONE and not stages[PanelStage.ESCALATION]:
        errors["escalation_scope"] = [
            f"Scope {panel.escalation_scope!r} reruns analysts with their escalation profiles, "
            "but the panel has no escalation seats."
        ]
    if (
        not reruns
        and not (panel.escalation_switches_judge and has_judge)
        and "escalation_scope" not in errors
    ):
        errors["escalation_scope"] = ["Triggers are on but an escalation could change nothing."]
    return errors


def _seat_inputs(seats: Iterable[dict[str, Any]]) -> list[SeatInput]:
    return [SeatInput(stage=s["stage"], role=s["role"], profile=s["profile"]) for s in seats]


def _apply(panel: Panel, fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(PANEL_FIELDS)
    if unknown:
        raise InvalidInputError(
            "Unknown panel fields.", extra={"fields": {name: ["Unknown field."] for name in sorted(unknown)}}
        )
    for name, value in fields.items():
        setattr(panel, name, value)


def _save(panel: Panel, seats: list[SeatInput] | None) -> Panel:
    """Validate the panel (fields, policy, seats) and store it with its seats, or nothing at all."""
    if panel.is_default:
        # One default panel: taking the flag unsets it elsewhere (rows locked, so two requests queue).
        list(Panel.objects.select_for_update(no_key=True).filter(is_default=True).exclude(pk=panel.pk))
        Panel.objects.filter(is_default=True).exclude(pk=panel.pk).update(is_default=False)
    panel.full_clean()
    current = seats if seats is not None else _current_seats(panel)
    panel_seats_validate(panel, current)
    try:
        with transaction.atomic():
            panel.save()
    except IntegrityError as exc:
        raise InvalidInputError.for_field("name", f"A panel named {panel.name!r} already exists.") from exc
    if seats is not None:
        panel.seats.all().delete()
        PanelSeat.objects.bulk_create(
            [PanelSeat(panel=panel, stage=s.stage, role=s.role, profile=s.profile) for s in seats]
        )
    return panel


def _current_seats(panel: Panel) -> list[SeatInput]:
    if panel.pk is None:
        return []
    return [
        SeatInput(stage=s.stage, role=s.role, profile=s.profile)
        for s in panel.seats.select_related("profile")
    ]


@transaction.atomic
def panel_create(*, seats: Iterable[dict[str, Any]], **fields: Any) -> Panel:
    """Create a panel with its seats (``[{"stage", "role", "profile": AgentProfile}]``).

    Raises ValidationError / InvalidInputError naming the field; nothing is written on failure.
    """
    panel = Panel()
    _apply(panel, fields)
    return _save(panel, _seat_inputs(seats))


@transaction.atomic
def panel_update(*, panel: Panel, seats: Iterable[dict[str, Any]] | None = None, **fields: Any) -> Panel:
    """Change a panel's fields; ``seats``, when given, replace all of its seats.

    The new state is validated as a whole (policy against seats) before anything is written.
    """
    # NO KEY UPDATE: serializes updates of this panel without blocking the seats that reference it
    # (a seat being written holds the panel plans' version row, agents/0006: FOR UPDATE could deadlock).
    locked = Panel.objects.select_for_update(no_key=True).get(pk=panel.pk)
    _apply(locked, fields)
    return _save(locked, _seat_inputs(seats) if seats is not None else None)


@transaction.atomic
def panel_delete(*, panel: Panel) -> None:
    """Delete a panel no debate used; raises ConflictError for one that has debates (their record)."""
    try:
        panel.delete()
    except ProtectedError as exc:
        count = len(exc.protected_objects)
        raise ConflictError(
            f"Panel {panel.name!r} ran {count} debate(s) and is part of their record; it cannot be deleted."
        ) from exc


ESCALATION_DEMO_PANEL = "rules-escalation"


@transaction.atomic
def escalation_demo_panel_seed() -> Panel:
    """Idempotently create a rules panel that escalates, next to the default one (which does not).

    Same seats as the default panel (cheap rules first, deep rules on escalation); escalates when
    agreement is below 0.55 or the quorum falls short, reruns only the dissenting roles, and lets
    the deep judge decide. The default panel keeps every trigger off, so the throughput benchmark
    and the demo's default debates run exactly one round.
    """
    from agents.services import DEFAULT_PANEL, default_panel_seed

    source = Panel.objects.filter(name=DEFAULT_PANEL).first() or default_panel_seed()
    panel, _created = Panel.objects.update_or_create(
        name=ESCALATION_DEMO_PANEL,
        defaults={
            "description": "Rules panel with an escalation policy: agreement below 0.55 or a quorum "
            "shortfall reruns the dissenting roles with the deep rules variants; the deep judge decides.",
            "escalate_on_low_agreement": True,
            "agreement_threshold": 0.55,
            "escalate_on_quorum_shortfall": True,
            "escalation_scope": EscalationScope.DISSENTERS,
            "escalation_switches_judge": True,
        },
    )
    for seat in source.seats.all():
        PanelSeat.objects.update_or_create(
            panel=panel, stage=seat.stage, role=seat.role, defaults={"profile_id": seat.profile_id}
        )
    return panel
