"""The one async interface every provider implements, and the data that crosses it.

Providers see plain frozen data (``ProfileSpec``, ``AgentRequest``), never ORM objects, so they
can run concurrently on an event loop without touching the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from agents.models import Role
from agents.schemas import AnalystOutput, AnalystView, JudgeOutput, MarketContext

if TYPE_CHECKING:
    from agents.models import AgentProfile


@dataclass(frozen=True)
class ProfileSpec:
    """An immutable snapshot of an :class:`AgentProfile`, safe to hand to async code."""

    id: int
    name: str
    role: str
    provider: str
    model: str
    tier: str
    params: dict[str, Any] = field(default_factory=dict)
    base_url: str = ""
    api_key_env: str = ""
    price_input_per_mtok: Decimal | None = None
    price_output_per_mtok: Decimal | None = None

    @classmethod
    def from_profile(cls, profile: AgentProfile) -> ProfileSpec:
        return cls(
            id=profile.pk,
            name=profile.name,
            role=profile.role,
            provider=profile.provider,
            model=profile.model,
            tier=profile.tier,
            params=dict(profile.params or {}),
            base_url=profile.base_url,
            api_key_env=profile.api_key_env,
            price_input_per_mtok=profile.price_input_per_mtok,
            price_output_per_mtok=profile.price_output_per_mtok,
        )


@dataclass(frozen=True)
class AgentRequest:
    """One question to one agent: the role it plays, what it may read, and for a judge the analysts."""

    profile: ProfileSpec
    context: MarketContext
    analyst_views: tuple[AnalystView, ...] = ()
    purpose: str = "analysis"
    quorum: int = 3

    @property
    def role(self) -> str:
        return self.profile.role

    @property
    def output_model(self) -> type[BaseModel]:
        return JudgeOutput if self.role == Role.JUDGE else AnalystOutput


@dataclass(frozen=True)
class Usage:
    """Tokens as the provider reported them (cached tokens counted the provider's own way)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True)
class ProviderReply:
    """A provider's raw answer: the text it produced, and the parsed object when it has one."""

    text: str
    parsed: BaseModel | None = None
    usage: Usage | None = None
    request_id: str | None = None
    prompt_version: str = ""


class ProviderError(Exception):
    """A call that failed at the provider; ``kind`` is one of the ledger's failure statuses."""

    def __init__(self, kind: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


class Provider(Protocol):
    name: str

    async def complete(self, request: AgentRequest) -> ProviderReply: ...
