"""Model providers behind one async interface; :func:`get_provider` picks one by name.

The registry maps each ``AgentProfile.provider`` value to a provider instance. Instances are
stateless apart from caches, so one per process is shared by every call. :func:`register_provider`
lets a deployment or a test add one (e.g. a provider for another vendor's SDK).
"""

from __future__ import annotations

from agents.providers.base import Provider, ProviderError

_REGISTRY: dict[str, Provider] = {}


def _builtin() -> dict[str, Provider]:
    from agents.providers.anthropic import AnthropicProvider
    from agents.providers.openai import OpenAIProvider
    from agents.providers.openai_compatible import OpenAICompatibleProvider
    from agents.providers.rules import RulesProvider

    return {
        "rules": RulesProvider(),
        "openai": OpenAIProvider(),
        "anthropic": AnthropicProvider(),
        "openai_compatible": OpenAICompatibleProvider(),
    }


def register_provider(name: str, provider: Provider) -> None:
    """Serve profiles whose ``provider`` is ``name`` with ``provider`` (replacing any earlier one)."""
    registry()[name] = provider


def registry() -> dict[str, Provider]:
    if not _REGISTRY:
        _REGISTRY.update(_builtin())
    return _REGISTRY


def get_provider(name: str) -> Provider:
    """The provider registered under ``name``; unknown names are a configuration error."""
    try:
        return registry()[name]
    except KeyError:
        raise ProviderError("provider_error", f"Provider {name!r} is not available.") from None
