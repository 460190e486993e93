"""The gateway: one async call to one agent, returning a typed result that never raises.

A provider failure or an answer that does not validate becomes a result with a status, so a debate
can record it and go on with the agents that did answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ValidationError

from agents.providers import get_provider
from agents.providers.base import AgentRequest, ProfileSpec, ProviderError, Usage


class CallStatus:
    OK = "ok"
    INVALID_OUTPUT = "invalid_output"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    PROVIDER_ERROR = "provider_error"
    BUDGET_DENIED = "budget_denied"


@dataclass(frozen=True)
class AgentResult:
    profile: ProfileSpec
    purpose: str
    status: str
    output: BaseModel | None
    raw_text: str
    error: str
    usage: Usage
    cost_usd: Decimal | None
    latency_ms: int
    request_id: str | None
    prompt_version: str
    repaired_by: str = "none"

    @property
    def role(self) -> str:
        return self.profile.role

    @property
    def valid(self) -> bool:
        return self.output is not None


async def run_agent(request: AgentRequest) -> AgentResult:
    """Ask one agent; validate its answer against the role's output model."""
    started = time.perf_counter()
    try:
        reply = await get_provider(request.profile.provider).complete(request)
    except ProviderError as exc:
        return _result(request, started, status=exc.kind, error=str(exc))
    output, error = _validate(request.output_model, reply.parsed, reply.text)
    return _result(
        request,
        started,
        status=CallStatus.OK if output is not None else CallStatus.INVALID_OUTPUT,
        output=output,
        raw_text=reply.text,
        error=error,
        usage=reply.usage or Usage(),
        cost=Decimal(0) if request.profile.provider == "rules" else None,
        request_id=reply.request_id,
        prompt_version=reply.prompt_version,
    )


def _validate(model: type[BaseModel], parsed: BaseModel | None, text: str) -> tuple[BaseModel | None, str]:
    if isinstance(parsed, model):
        return parsed, ""
    try:
        return model.model_validate_json(text), ""
    except ValidationError as exc:
        return None, f"{model.__name__} validation failed: {exc.error_count()} error(s): " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()[:5]
        )


def _result(
    request: AgentRequest,
    started: float,
    *,
    status: str,
    output: BaseModel | None = None,
    raw_text: str = "",
    error: str = "",
    usage: Usage | None = None,
    cost: Decimal | None = None,
    request_id: str | None = None,
    prompt_version: str = "",
) -> AgentResult:
    return AgentResult(
        profile=request.profile,
        purpose=request.purpose,
        status=status,
        output=output,
        raw_text=raw_text,
        error=error,
        usage=usage or Usage(),
        cost_usd=cost,
        latency_ms=int((time.perf_counter() - started) * 1000),
        request_id=request_id,
        prompt_version=prompt_version,
    )
