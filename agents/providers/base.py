"""The one async interface every provider implements, and the data that crosses it.

Providers see plain frozen data (``ProfileSpec``, ``ProviderCall``), never ORM objects, so they
can run concurrently on an event loop without touching the database. A provider makes exactly one
HTTP request per ``complete`` call: retries, fallbacks, budgets and repair are the gateway's, so
that every attempt can be its own ledger row.
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
    """An immutable snapshot of an :class:`AgentProfile`, safe to hand to async code.

    ``fallbacks`` is the resolved, ordered chain tried after this profile (already flattened, see
    :func:`agents.selectors.profile_specs_resolve`); ``repair`` the profile that fixes broken JSON.
    """

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
    budget_usd: Decimal | None = None
    budget_period: str = "day"
    fallbacks: tuple[ProfileSpec, ...] = ()
    repair: ProfileSpec | None = None

    @classmethod
    def from_profile(
        cls,
        profile: AgentProfile,
        *,
        fallbacks: tuple[ProfileSpec, ...] = (),
        repair: ProfileSpec | None = None,
    ) -> ProfileSpec:
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
            budget_usd=profile.budget_usd,
            budget_period=profile.budget_period,
            fallbacks=fallbacks,
            repair=repair,
        )


@dataclass(frozen=True)
class AgentRequest:
    """One question to one agent: the role it plays, what it may read, and for a judge the analysts.

    ``session_id`` and ``round`` tie the answer to a debate (for logs and the ledger);
    ``timeout_s`` caps each attempt's timeout (the profile's ``timeout_s`` parameter applies when
    smaller); ``deadline`` (a ``time.monotonic()`` value) stops new attempts once passed, so a
    caller's overall deadline ends the call with a result instead of a cancellation.
    """

    profile: ProfileSpec
    context: MarketContext
    analyst_views: tuple[AnalystView, ...] = ()
    purpose: str = "analysis"
    quorum: int = 3
    session_id: int | None = None
    round: int = 1
    timeout_s: float | None = None
    deadline: float | None = None

    @property
    def role(self) -> str:
        return self.profile.role

    @property
    def output_model(self) -> type[BaseModel]:
        return JudgeOutput if self.role == Role.JUDGE else AnalystOutput


@dataclass(frozen=True)
class Usage:
    """Tokens as the provider reported them (cached tokens counted the provider's own way).

    OpenAI counts cached tokens inside ``input_tokens``; Anthropic reports them apart
    (``input_tokens`` excludes both cache reads and cache writes). :mod:`agents.pricing` knows.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_tokens + other.cached_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


@dataclass(frozen=True)
class ProviderCall:
    """What the gateway asks a provider: one prompt, one output schema, one timeout.

    ``schema_instructions`` describes the schema in words for servers that cannot enforce it
    (JSON mode or schema-in-prompt); ``request`` is the original question, which only the offline
    ``rules`` provider reads (it computes rather than prompts).
    """

    profile: ProfileSpec
    system: str
    user: str
    output_model: type[BaseModel]
    schema_name: str
    schema_instructions: str
    max_tokens: int
    timeout_s: float
    request: AgentRequest | None = None


@dataclass(frozen=True)
class ProviderReply:
    """A provider's raw answer: the text it produced, and the parsed object when it has one.

    ``usage`` is ``None`` when the provider did not report it (the cost is then unknown).
    ``truncated`` means the answer hit the output-token limit; ``refusal`` is a model's refusal.
    """

    text: str
    parsed: BaseModel | None = None
    usage: Usage | None = None
    request_id: str | None = None
    prompt_version: str = ""
    model: str = ""
    truncated: bool = False
    refusal: str = ""


class ProviderError(Exception):
    """A call that failed at the provider; ``kind`` is one of the ledger's failure statuses.

    ``retryable``: the same request may succeed later (timeouts, connection errors, 429, 5xx);
    ``retry_after``: seconds the server asked us to wait; ``may_be_billed``: the request reached the
    provider and may have been charged although no answer came back (timeouts, dropped
    connections), so its cost is unknown rather than zero; ``downgraded``: the provider changed how
    it will ask (e.g. JSON mode after a server refused structured outputs) and an immediate retry
    is expected to work.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        may_be_billed: bool = False,
        downgraded: bool = False,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after
        self.status_code = status_code
        self.request_id = request_id
        self.may_be_billed = may_be_billed
        self.downgraded = downgraded


class Provider(Protocol):
    name: str

    async def complete(self, call: ProviderCall) -> ProviderReply: ...
