"""Rules a profile must satisfy beyond its field types, shared by the model, the admin and the API.

Each function returns per-field messages instead of raising, so callers can merge them into one
400 response (the API) or one ``ValidationError`` (the model's ``clean``). Messages never echo the
value of ``api_key_env``: a user who pasted a key there must not see it printed back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agents.models import Provider

if TYPE_CHECKING:
    from agents.models import AgentProfile

MAX_FALLBACKS = 5
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")

_LLM_PARAMS: dict[str, tuple[type | tuple[type, ...], Any, Any]] = {
    # name: (types, minimum, maximum)
    "temperature": ((int, float), 0, 2),
    "top_p": ((int, float), 0, 1),
    "max_tokens": (int, 1, 200_000),
    "timeout_s": ((int, float), 0.01, 600),
    "max_retries": (int, 0, 10),
    "backoff_base_s": ((int, float), 0, 60),
    "backoff_max_s": ((int, float), 0, 600),
    "seed": (int, 0, 2**31 - 1),
}
_CHOICE_PARAMS: dict[str, dict[str, tuple[str, ...]]] = {
    Provider.RULES: {"depth": ("quick", "deep")},
    Provider.OPENAI: {
        "api": ("responses", "chat"),
        "reasoning_effort": ("minimal", "low", "medium", "high"),
    },
    Provider.ANTHROPIC: {"structured": ("tool", "output_format")},
    Provider.OPENAI_COMPATIBLE: {"structured": ("auto", "json_schema", "json_object", "prompt")},
}
_TEXT_PARAMS: dict[str, tuple[str, ...]] = {
    Provider.RULES: (),
    Provider.OPENAI: ("prompt_version",),
    Provider.ANTHROPIC: ("prompt_version",),
    Provider.OPENAI_COMPATIBLE: ("prompt_version", "pricing_provider"),
}


def known_params(provider: str) -> list[str]:
    numeric = [] if provider == Provider.RULES else list(_LLM_PARAMS)
    return sorted([*numeric, *_CHOICE_PARAMS.get(provider, {}), *_TEXT_PARAMS.get(provider, ())])


def params_errors(provider: str, params: Any) -> list[str]:
    """Unknown keys, wrong types and out-of-range values of a profile's call parameters."""
    if not isinstance(params, dict):
        return ["Call parameters must be a JSON object."]
    errors: list[str] = []
    choices = _CHOICE_PARAMS.get(provider, {})
    texts = _TEXT_PARAMS.get(provider, ())
    for key, value in params.items():
        if key in choices:
            if value not in choices[key]:
                errors.append(f"{key} must be one of {', '.join(choices[key])}.")
        elif key in texts:
            if not isinstance(value, str) or not value.strip() or len(value) > 64:
                errors.append(f"{key} must be a non-empty string of at most 64 characters.")
        elif key in _LLM_PARAMS and provider != Provider.RULES:
            errors.extend(_numeric_error(key, value))
        else:
            errors.append(
                f"Unknown parameter {key!r} for {provider}; known: {', '.join(known_params(provider))}."
            )
    if "prompt_version" in params and not errors:
        from agents.prompts import available_versions

        if params["prompt_version"] not in available_versions():
            errors.append(f"prompt_version must be one of {', '.join(available_versions())}.")
    return errors


def _numeric_error(key: str, value: Any) -> list[str]:
    types, low, high = _LLM_PARAMS[key]
    if isinstance(value, bool) or not isinstance(value, types):
        kind = "an integer" if types is int else "a number"
        return [f"{key} must be {kind}."]
    if not low <= value <= high:
        return [f"{key} must be between {low} and {high}."]
    return []


def _url_path(url: str) -> str:
    return urlsplit(url).path.rstrip("/")


def profile_errors(profile: AgentProfile) -> dict[str, list[str]]:
    """Provider-specific field rules: base URL shape, key variable name, prices, parameters."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for message in params_errors(profile.provider, profile.params):
        add("params", message)
    if profile.provider == Provider.OPENAI_COMPATIBLE:
        if not profile.base_url:
            add("base_url", "An OpenAI-compatible profile needs a base URL ending in /v1.")
        elif not _url_path(profile.base_url).endswith("/v1"):
            add(
                "base_url",
                "The base URL of an OpenAI-compatible server ends in /v1, e.g. http://127.0.0.1:11434/v1.",
            )
    elif profile.provider == Provider.ANTHROPIC and profile.base_url:
        if _url_path(profile.base_url).endswith("/v1"):
            add("base_url", "Anthropic's base URL has no /v1: the SDK adds /v1/messages itself.")
    elif profile.provider == Provider.RULES and (profile.base_url or profile.api_key_env):
        field = "base_url" if profile.base_url else "api_key_env"
        add(field, "The rules provider makes no network calls: leave base_url and api_key_env empty.")
    if profile.api_key_env and not ENV_NAME.fullmatch(profile.api_key_env):
        add(
            "api_key_env",
            "Give the NAME of an environment variable (upper-case letters, digits, _), such as "
            "OLLAMA_API_KEY, never the key itself.",
        )
    prices = (profile.price_input_per_mtok, profile.price_output_per_mtok)
    if (prices[0] is None) != (prices[1] is None):
        missing = "price_output_per_mtok" if prices[1] is None else "price_input_per_mtok"
        add(missing, "Price overrides come in pairs: set both input and output prices, or neither.")
    for field, value in (
        ("price_input_per_mtok", prices[0]),
        ("price_output_per_mtok", prices[1]),
        ("budget_usd", profile.budget_usd),
    ):
        if value is not None and Decimal(value) < 0:
            add(field, "Must be zero or more.")
    repair = profile.repair_profile if profile.repair_profile_id else None
    if repair is not None and repair.provider == Provider.RULES:
        add("repair_profile", "A rules profile cannot repair JSON; choose an LLM profile.")
    return errors


def _edges(exclude_from: int | None) -> dict[int, list[int]]:
    from agents.models import ProfileFallback

    graph: dict[int, list[int]] = {}
    for source, target in ProfileFallback.objects.values_list("profile_id", "fallback_id"):
        if source != exclude_from:
            graph.setdefault(source, []).append(target)
    return graph


def _reaches(graph: dict[int, list[int]], start: int, goal: int) -> bool:
    seen, stack = {start}, [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def fallback_errors(profile: AgentProfile, fallbacks: Sequence[AgentProfile]) -> list[str]:
    """Why ``fallbacks`` cannot be ``profile``'s ordered fallback list (empty when it can).

    A fallback must play the same role (it answers in the profile's place), may not be the profile
    itself, may not repeat, and may not lead back to the profile through other profiles' fallbacks.
    The caller replaces the profile's whole list, so its current entries are left out of the graph.
    """
    errors: list[str] = []
    if len(fallbacks) > MAX_FALLBACKS:
        errors.append(f"At most {MAX_FALLBACKS} fallbacks.")
    names = [f.name for f in fallbacks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        errors.append(f"Listed more than once: {', '.join(duplicates)}.")
    graph = _edges(exclude_from=profile.pk) if profile.pk else {}
    for fallback in fallbacks:
        if (profile.pk is not None and fallback.pk == profile.pk) or fallback.name == profile.name:
            errors.append("A profile cannot fall back to itself.")
        elif fallback.role != profile.role:
            errors.append(f"Fallback {fallback.name} plays {fallback.role}, not {profile.role}.")
        elif profile.pk is not None and _reaches(graph, fallback.pk, profile.pk):
            errors.append(f"Fallback {fallback.name} leads back to {profile.name}: that would be a cycle.")
    return errors


def fallback_chain(root: int, graph: dict[int, list[int]], limit: int = 8) -> list[int]:
    """The order fallbacks are tried in: depth-first through each fallback's own fallbacks, no repeats."""
    order: list[int] = []

    def visit(node: int) -> None:
        for nxt in graph.get(node, ()):
            if nxt != root and nxt not in order and len(order) < limit:
                order.append(nxt)
                visit(nxt)

    visit(root)
    return order
