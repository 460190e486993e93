"""Writes of the agents app: profiles and panels, including the seeded default panel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from asgiref.sync import async_to_sync
from django.db import connection, models, transaction
from django.db.models import ProtectedError

from agents.gateway import AgentResult, check_profile
from agents.models import (
    ANALYST_ROLES,
    AgentProfile,
    Mode,
    Panel,
    PanelSeat,
    PanelStage,
    ProfileFallback,
    Provider,
    Role,
    Tier,
)
from agents.providers.base import ProfileSpec
from agents.selectors import profile_specs_resolve
from agents.validation import fallback_errors
from arena_project.errors import ConflictError, InvalidInputError

DEFAULT_PANEL = "rules-default"
FALLBACK_GRAPH_LOCK = 0x4152454E41  # "ARENA": the advisory lock id guarding fallback edits


def _rules_profile(role: str, *, powerful: bool) -> AgentProfile:
    depth = "deep" if powerful else "quick"
    name = f"rules-{role.replace('_', '-')}" + ("-deep" if powerful else "")
    defaults: dict[str, Any] = {
        "role": role,
        "provider": Provider.RULES,
        "model": f"rules-v1-{depth}",
        "tier": Tier.POWERFUL if powerful else Tier.CHEAP,
        "mode": Mode.ESCALATION_ONLY if powerful else Mode.CHEAP_FIRST,
        "params": {"depth": depth},
        "active": True,
        "description": (
            "Deterministic rules computed from price indicators; no model, no tokens, no cost. "
            + ("Deep variant: confirms across more horizons, more conservative." if powerful else "")
        ).strip(),
    }
    profile, _created = AgentProfile.objects.update_or_create(name=name, defaults=defaults)
    return profile


@transaction.atomic
def default_panel_seed() -> Panel:
    """Idempotently create the rules profiles and the default panel (cheap round, deep escalation)."""
    panel, _created = Panel.objects.get_or_create(
        name=DEFAULT_PANEL,
        defaults={
            "description": "Five cheap rules analysts and a rules judge; deep rules variants escalate."
        },
    )
    if not Panel.objects.filter(is_default=True).exclude(pk=panel.pk).exists():
        Panel.objects.filter(pk=panel.pk).update(is_default=True)
    for role in (*ANALYST_ROLES, Role.JUDGE):
        cheap, deep = _rules_profile(role, powerful=False), _rules_profile(role, powerful=True)
        cheap_stage, deep_stage = (
            (PanelStage.JUDGE, PanelStage.ESCALATION_JUDGE)
            if role == Role.JUDGE
            else (PanelStage.ANALYST, PanelStage.ESCALATION)
        )
        PanelSeat.objects.update_or_create(
            panel=panel, stage=cheap_stage, role=role, defaults={"profile": cheap}
        )
        PanelSeat.objects.update_or_create(
            panel=panel, stage=deep_stage, role=role, defaults={"profile": deep}
        )
    panel.refresh_from_db()
    return panel


# --- profiles CRUD (the staff API and the admin) --------------------------------------------------

_UNSET: Any = object()


def _graph_lock() -> None:
    """Serialize fallback-graph edits, so two concurrent edits cannot together close a cycle.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: writers are serialized already
    (IMMEDIATE transactions).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FALLBACK_GRAPH_LOCK])


def _profiles_named(names: list[str], field: str) -> list[AgentProfile]:
    found = AgentProfile.objects.in_bulk(names, field_name="name")
    unknown = [n for n in names if n not in found]
    if unknown:
        raise InvalidInputError.for_field(field, f"Unknown profile(s): {', '.join(unknown)}.")
    return [found[n] for n in names]


def _check_role_change(profile: AgentProfile, old_role: str, old_mode: str) -> None:
    if profile.pk is None:
        return
    errors: dict[str, list[str]] = {}
    seats = list(profile.seats.select_related("panel"))
    if profile.role != old_role:
        if seats:
            where = ", ".join(f"{s.panel.name} ({s.stage})" for s in seats)
            errors.setdefault("role", []).append(
                f"Seated as {old_role} in {where}: reseat it before changing its role."
            )
        users = list(
            AgentProfile.objects.filter(fallback_links__fallback=profile).values_list("name", flat=True)
        )
        if users:
            errors.setdefault("role", []).append(
                f"It is a fallback of {', '.join(users)}, which play {old_role}: remove it there first."
            )
    if profile.mode == Mode.ESCALATION_ONLY and old_mode != Mode.ESCALATION_ONLY:
        first_round = [s for s in seats if s.stage in (PanelStage.ANALYST, PanelStage.JUDGE)]
        if first_round:
            errors.setdefault("mode", []).append(
                "Seated in a first-round stage; an escalation-only profile can only sit in an "
                "escalation stage."
            )
    if errors:
        raise InvalidInputError("Invalid input.", extra={"fields": errors})


def _save_links(profile: AgentProfile, fallbacks: list[AgentProfile] | None) -> None:
    if fallbacks is None:
        return
    problems = fallback_errors(profile, fallbacks)
    if problems:
        raise InvalidInputError("Invalid fallbacks.", extra={"fields": {"fallbacks": problems}})
    ProfileFallback.objects.filter(profile=profile).delete()
    ProfileFallback.objects.bulk_create(
        ProfileFallback(profile=profile, fallback=fallback, position=i)
        for i, fallback in enumerate(fallbacks, 1)
    )


def _apply(
    profile: AgentProfile,
    fields: dict[str, Any],
    fallbacks: list[str] | None,
    repair_profile: str | None,
) -> AgentProfile:
    _graph_lock()
    old_role, old_mode = profile.role, profile.mode
    for name, value in fields.items():
        setattr(profile, name, value)
    if repair_profile is not _UNSET:
        profile.repair_profile = (
            _profiles_named([repair_profile], "repair_profile")[0] if repair_profile else None
        )
    fallback_profiles = _profiles_named(fallbacks, "fallbacks") if fallbacks is not None else None
    if fallback_profiles is None and profile.pk is not None and profile.role != old_role:
        fallback_profiles = [link.fallback for link in profile.fallback_links.select_related("fallback")]
    profile.full_clean()
    _check_role_change(profile, old_role, old_mode)
    if fallback_profiles is not None and profile.pk is None:
        # validate before the first save, so a refused list leaves nothing behind
        problems = fallback_errors(profile, fallback_profiles)
        if problems:
            raise InvalidInputError("Invalid fallbacks.", extra={"fields": {"fallbacks": problems}})
    profile.save()
    _save_links(profile, fallback_profiles)
    return profile


@transaction.atomic
def profile_create(
    *, fallbacks: list[str] | None = None, repair_profile: str | None = None, **fields: Any
) -> AgentProfile:
    """Validate and store a profile with its ordered fallbacks (names) and repair profile (name).

    Raises ValidationError / InvalidInputError with per-field messages; nothing is written then.
    """
    return _apply(AgentProfile(), fields, fallbacks, repair_profile if repair_profile is not None else _UNSET)


@transaction.atomic
def profile_update(
    *,
    profile: AgentProfile,
    fallbacks: list[str] | None = None,
    repair_profile: Any = _UNSET,
    **fields: Any,
) -> AgentProfile:
    """Change the given fields; ``fallbacks`` (when given) replaces the whole ordered list.

    A seated profile keeps its role; a profile others fall back to keeps its role too.
    """
    # NO KEY UPDATE: serializes updates of this profile without blocking rows that reference it (a
    # seat being written holds the panel plans' version row, agents/0006: FOR UPDATE here could deadlock).
    locked = AgentProfile.objects.select_for_update(no_key=True).get(pk=profile.pk)
    return _apply(locked, fields, fallbacks, repair_profile)


@transaction.atomic
def profile_delete(*, profile: AgentProfile) -> None:
    """Delete an unused profile; one with seats, history or dependants is a conflict (deactivate it).

    Protected references are checked with one EXISTS each (Django would otherwise load every
    protected row, e.g. the whole call ledger of the profile, just to refuse).
    """
    _graph_lock()
    blockers = [
        str(rel.related_model._meta.verbose_name_plural)
        for rel in AgentProfile._meta.related_objects
        if rel.on_delete is models.PROTECT
        and rel.related_model._default_manager.filter(**{rel.field.name: profile}).exists()
    ]
    message = "Profile {name} is still referenced ({what}); set active=false instead of deleting it."
    if blockers:
        raise ConflictError(message.format(name=profile.name, what=", ".join(sorted(blockers))))
    try:
        profile.delete()
    except ProtectedError as exc:  # a reference added since the check
        raise ConflictError(message.format(name=profile.name, what="new references")) from exc


# --- admin actions: activate / deactivate, duplicate, test call -----------------------------------

_COPY_FIELDS = [
    "role",
    "description",
    "provider",
    "model",
    "tier",
    "mode",
    "budget_usd",
    "budget_period",
    "params",
    "base_url",
    "api_key_env",
    "price_input_per_mtok",
    "price_output_per_mtok",
]


def profiles_set_active(*, profiles: Iterable[AgentProfile], active: bool) -> int:
    """Switch profiles on or off in one conditional UPDATE; returns how many actually changed."""
    ids = [p.pk for p in profiles]
    return AgentProfile.objects.filter(pk__in=ids).exclude(active=active).update(active=active)


def _copy_name(name: str) -> str:
    """``<name> (copy)``, or ``(copy 2)``, ``(copy 3)``... when that name is taken (max 100 chars)."""
    base = f"{name[: 100 - len(' (copy 99)')]}"
    candidate, n = f"{base} (copy)", 1
    while AgentProfile.objects.filter(name=candidate).exists():
        n += 1
        candidate = f"{base} (copy {n})"
    return candidate


@transaction.atomic
def profile_duplicate(*, profile: AgentProfile) -> AgentProfile:
    """An inactive copy named ``<name> (copy)`` with the same settings, fallbacks and repair profile.

    Inactive so that a copy never joins a panel's fallbacks or health checks before someone has
    edited it. Validated like any new profile; nothing is written when it is refused.
    """
    _graph_lock()
    source = AgentProfile.objects.select_related("repair_profile").get(pk=profile.pk)
    fields = {name: getattr(source, name) for name in _COPY_FIELDS}
    fallbacks = [
        link.fallback.name for link in source.fallback_links.select_related("fallback").order_by("position")
    ]
    return profile_create(
        name=_copy_name(source.name),
        active=False,
        fallbacks=fallbacks,
        repair_profile=source.repair_profile.name if source.repair_profile else None,
        **fields,
    )


CheckRecorder = Callable[[list[AgentResult]], None]
_check_recorders: list[CheckRecorder] = []
CHECK_CONCURRENCY = 8


def register_check_recorder(recorder: CheckRecorder) -> None:
    """Let an app to the right (debates: the LLM call ledger) record every health check's attempts."""
    if recorder not in _check_recorders:
        _check_recorders.append(recorder)


async def _check_all(specs: list[ProfileSpec], timeout_s: float) -> list[AgentResult]:
    gate = asyncio.Semaphore(CHECK_CONCURRENCY)

    async def one(spec: ProfileSpec) -> AgentResult:
        async with gate:
            return await check_profile(spec, timeout_s=timeout_s)

    return list(await asyncio.gather(*(one(spec) for spec in specs)))


def profiles_check(*, profiles: list[AgentProfile], timeout_s: float = 20.0) -> list[AgentResult]:
    """One tiny structured call per profile (in the given order, up to 8 at once), then recorded.

    Shared by ``manage.py check_providers`` and the admin's "test call" action. Keys come from the
    environment inside the gateway and never appear in a result (errors are redacted there).
    """
    if timeout_s <= 0:
        raise InvalidInputError(
            "timeout_s must be positive.", extra={"fields": {"timeout_s": ["Must be > 0."]}}
        )
    specs = profile_specs_resolve(profiles)
    results = async_to_sync(_check_all)([specs[p.pk] for p in profiles], timeout_s)
    with transaction.atomic():
        for record in _check_recorders:
            record(results)
    return results


def check_status(result: AgentResult) -> str:
    """The status to report for a check: the result's, or its last attempt's when it failed."""
    attempts = result.attempts
    return result.status if not attempts or result.valid else attempts[-1].status


def check_latency_ms(result: AgentResult) -> int:
    """How long the check took: every attempt's latency added up."""
    return sum(a.latency_ms for a in result.attempts) if result.attempts else result.latency_ms


def check_summary(result: AgentResult) -> str:
    """One line for an operator: profile, provider/model, status, latency, tokens, cost, error.

    Built only from the result (the gateway redacts errors), so no key can appear in it.
    """
    spec = result.profile
    cost = "cost unknown" if result.cost_usd is None else f"${result.cost_usd:.6f}"
    line = (
        f"{spec.name} ({spec.provider}/{spec.model}): {check_status(result)}, {check_latency_ms(result)} ms, "
        f"{result.usage.input_tokens} in / {result.usage.output_tokens} out tokens, {cost}"
    )
    return f"{line} — {result.error[:200]}" if result.error and not result.valid else line
