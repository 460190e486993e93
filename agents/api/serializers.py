"""Input and output of the staff profiles API (no logic: services validate and write)."""

from __future__ import annotations

import os

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.api.schema import MoneyField, ParamsField, name_field, text_field
from agents.models import AgentProfile, BudgetPeriod, Mode, Provider, Role, Tier
from agents.pricing import price_known
from agents.providers.base import ProfileSpec
from agents.providers.http import key_env_name
from agents.validation import MAX_FALLBACKS
from arena_project.serializers import StrictInputSerializer

_ENV_NAME = r"^$|^[A-Z_][A-Z0-9_]{0,99}$"
# What Django's URLValidator accepts, narrowed to what a schema can say: http(s), localhost, a
# dotted IPv4 or a host name with a top-level domain, an optional port, a plain path.
_BASE_URL = (
    r"^$|^https?://(localhost|[0-9]{1,2}(\.[0-9]{1,2}){3}|([a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\.)+[a-z]{2,10})"
    r"(:[1-9][0-9]{1,3})?(/[A-Za-z0-9._~-]+)*/?$"
)


@extend_schema_field({"type": "string", "maxLength": 200, "pattern": _BASE_URL})
class BaseUrlField(serializers.URLField):
    """A provider's base URL (or empty). Django's URLValidator decides; the schema says what passes."""


class ProfileInputSerializer(StrictInputSerializer):
    """A profile as written by staff. Fallbacks and the repair profile are given by name.

    Rules between fields, checked by the service with a 400 naming the field: an openai_compatible
    profile needs a ``base_url`` ending in /v1, an anthropic one's has no /v1, a rules profile has
    neither ``base_url`` nor ``api_key_env``; prices are set in pairs; ``params`` keys depend on the
    provider; ``fallbacks`` and ``repair_profile`` name existing profiles (the repair profile an
    LLM one) without a cycle; ``name`` is unique.
    """

    name = name_field(max_length=100)
    role = serializers.ChoiceField(choices=Role.choices)
    provider = serializers.ChoiceField(choices=Provider.choices)
    model = name_field(max_length=200)
    tier = serializers.ChoiceField(choices=Tier.choices, required=False)
    mode = serializers.ChoiceField(choices=Mode.choices, required=False)
    budget_usd = MoneyField(required=False, help_text="Hard cap per budget period; null = no cap.")
    budget_period = serializers.ChoiceField(choices=BudgetPeriod.choices, required=False)
    active = serializers.BooleanField(required=False)
    params = ParamsField(
        required=False, help_text="temperature, max_tokens, timeout_s, max_retries, provider options."
    )
    base_url = BaseUrlField(max_length=200, allow_blank=True, required=False)
    api_key_env = serializers.RegexField(
        _ENV_NAME,
        max_length=100,
        allow_blank=True,
        required=False,
        help_text="The NAME of the key's environment variable.",
    )
    price_input_per_mtok = MoneyField(
        required=False, help_text="USD per million input tokens; overrides the price database."
    )
    price_output_per_mtok = MoneyField(
        required=False, help_text="USD per million output tokens; set both prices or neither."
    )
    description = text_field(max_length=2000, allow_blank=True, required=False)
    fallbacks = serializers.ListField(
        child=name_field(max_length=100),
        required=False,
        max_length=MAX_FALLBACKS,
        help_text="Profile names tried in this order when this profile fails; replaces the list.",
    )
    repair_profile = name_field(
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
