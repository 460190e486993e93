"""Model providers behind one async interface; :func:`get_provider` picks one by name."""

from __future__ import annotations

from agents.providers.base import Provider, ProviderError


def get_provider(name: str) -> Provider:
    """The provider registered under ``name``; unknown names are a configuration error."""
    from agents.providers.rules import RulesProvider

    providers: dict[str, Provider] = {"rules": RulesProvider()}
    try:
        return providers[name]
    except KeyError:
        raise ProviderError("provider_error", f"Provider {name!r} is not available.") from None
