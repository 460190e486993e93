"""Model providers behind one async interface; :func:`get_provider` picks one by name.

The registry maps each ``AgentProfile.provider`` value to a provider instance. Instances are
stateless apart from caches, so one per process is shared by every call. :func:`register_provider`
lets a deployment or a test add one (e.g. a provider for another vendor's SDK).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from agents.providers.base import Provider, ProviderError


def _lazy(path: str) -> Callable[[], Provider]:
    """A factory importing ``module:Class`` on first use: a rules-only process never loads an SDK
    (importing the openai and anthropic SDKs costs about two seconds)."""

    def make() -> Provider:
        module, _, name = path.partition(":")
        provider: Provider = getattr(importlib.import_module(module), name)()
        return provider

    return make


_FACTORIES: dict[str, Callable[[], Provider]] = {
    "rules": _lazy("agents.providers.rules:RulesProvider"),
    "openai": _lazy("agents.providers.openai:OpenAIProvider"),
    "anthropic": _lazy("agents.providers.anthropic:AnthropicProvider"),
    "openai_compatible": _lazy("agents.providers.openai_compatible:OpenAICompatibleProvider"),
}
_INSTANCES: dict[str, Provider] = {}


def register_provider(name: str, provider: Provider) -> None:
    """Serve profiles whose ``provider`` is ``name`` with ``provider`` (replacing any earlier one)."""
    _INSTANCES[name] = provider


def get_provider(name: str) -> Provider:
    """The provider registered under ``name``; unknown names are a configuration error."""
    provider = _INSTANCES.get(name)
    if provider is None:
        factory = _FACTORIES.get(name)
        if factory is None:
            raise ProviderError("provider_error", f"Provider {name!r} is not available.")
        provider = _INSTANCES[name] = factory()
    return provider
