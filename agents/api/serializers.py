"""Input and output of the staff profiles API (no logic: services validate and write)."""

from __future__ import annotations

import os
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.models import AgentProfile, BudgetPeriod, Mode, Provider, Role, Tier
from agents.pricing import price_known
from agents.providers.base import ProfileSpec
from agents.providers.http import key_env_name
from agents.validation import MAX_FALLBACKS
from arena_project.serializers import StrictInputSerializer


def _money(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=12,
        decimal_places=6,
        min_value=Decimal(0),
        allow_null=True,
        required=False,
        help_text=help_text,
    )


class ProfileInputSerializer(StrictInputSerializer):
    """A profile as written by staff. Fallbacks and the repair profile are given by name."""

    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(choices=Role.choices)
    provider = serializers.ChoiceField(choices=Provider.choices)
    model = serializers.CharField(max_length=200)
    tier = serializers.ChoiceField(choices=Tier.choices, required=False)
    mode = serializers.ChoiceField(choices=Mode.choices, required=False)
    budget_usd = _money("Hard cap per budget period; null = no cap.")
    budget_period = serializers.ChoiceField(choices=BudgetPeriod.choices, required=False)
    active = serializers.BooleanField(required=False)
    params = serializers.DictField(
        required=False, help_text="temperature, max_tokens, timeout_s, max_retries, provider options."
    )
    base_url = serializers.URLField(max_length=200, allow_blank=True, required=False)
    api_key_env = serializers.CharField(
        max_length=100,
        allow_blank=True,
        required=False,
        help_text="The NAME of the key's environment variable.",
    )
    price_input_per_mtok = _money("USD per million input tokens; overrides the price database.")
    price_output_per_mtok = _money("USD per million output tokens; set both prices or neither.")
    description = serializers.CharField(max_length=2000, allow_blank=True, required=False)
    fallbacks = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=MAX_FALLBACKS,
        help_text="Profile names tried in this order when this profile fails; replaces the list.",
    )
    repair_profile = serializers.CharField(
        max_length=100, allow_null=True, required=False, help_text="Name of the profile that repairs JSON."
    )


class ProfileListQueryInputSerializer(StrictInputSerializer):
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=500)


class ProfileOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    fallbacks = serializers.SerializerMethodField()
    repair_profile = serializers.CharField(source="repair_profile.name", allow_null=True, default=None)
    api_key_configured = serializers.SerializerMethodField(
        help_text="Whether the key's environment variable is set (or no key is needed). Never the key."
    )
    pricing = serializers.SerializerMethodField(
        help_text="free (rules), override (profile prices), database (genai-prices) or unknown."
    )

    class Meta:
        model = AgentProfile
        fields = [
            "id",
            "url",
            "name",
            "role",
            "provider",
            "model",
            "tier",
            "mode",
            "budget_usd",
            "budget_period",
            "active",
            "params",
            "base_url",
            "api_key_env",
            "price_input_per_mtok",
            "price_output_per_mtok",
            "description",
            "fallbacks",
            "repair_profile",
            "api_key_configured",
            "pricing",
            "created_at",
            "updated_at",
        ]

    def get_url(self, obj: AgentProfile) -> str:
        return f"/api/admin/arena/profiles/{obj.pk}"

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_fallbacks(self, obj: AgentProfile) -> list[str]:
        return [link.fallback.name for link in obj.fallback_links.all()]

    def get_api_key_configured(self, obj: AgentProfile) -> bool:
        if obj.provider == Provider.RULES:
            return True
        name = key_env_name(ProfileSpec.from_profile(obj))
        return not name or bool(os.environ.get(name, "").strip())

    def get_pricing(self, obj: AgentProfile) -> str:
        if obj.provider == Provider.RULES:
            return "free"
        if obj.price_input_per_mtok is not None and obj.price_output_per_mtok is not None:
            return "override"
        return "database" if price_known(ProfileSpec.from_profile(obj)) else "unknown"
