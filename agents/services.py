"""Writes of the agents app: profiles and panels, including the seeded default panel."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from agents.models import (
    ANALYST_ROLES,
    AgentProfile,
    Mode,
    Panel,
    PanelSeat,
    PanelStage,
    Provider,
    Role,
    Tier,
)

DEFAULT_PANEL = "rules-default"


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
