"""Model providers behind one async interface; :func:`get_provider` picks one by name."""

from __future__ import annotations

from agents.providers.base import Provider, ProviderError

_REGISTERED: dict[str, Provider] = {}


def register_provider(name: str, provider: Provider | None) -> None:
    """Serve ``name`` with ``provider`` (``None`` removes it); registered ones take precedence.

    Tests and simulators register scripted providers here instead of patching the gateway.
    """
    if provider is None:
        _REGISTERED.pop(name, None)
    else:
        _REGISTERED[name] = provider


def get_provider(name: str) -> Provider:
    """The provider registered under ``name``; unknown names are a configuration error."""
    registered = _REGISTERED.get(name)
    if registered is not None:
        return registered
    from agents.providers.rules import RulesProvider

    providers: dict[str, Provider] = {"rules": RulesProvider()}
    try:
        return providers[name]
    except KeyError:
        raise ProviderError("provider_error", f"Provider {name!r} is not available.") from None
