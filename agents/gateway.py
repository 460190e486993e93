"""The gateway: one async call to one agent, returning a typed result that never raises.

What happens in :func:`run_agent`, in order:

1. **Prompt**: the role's versioned templates are rendered (:mod:`agents.prompts`).
2. **Profiles**: the profile, then each fallback in its resolved chain, until one answers. A
   provider failure (timeout, connection error, 429, 5xx, a 4xx, a missing key, a budget denial)
   moves on to the next profile; an answer that does not validate does not (it is repaired).
3. **Attempts**: per profile, retryable failures (timeouts, connection errors, 429, 5xx) are
   retried up to ``max_retries`` times with exponential backoff and full jitter, waiting at least
   what ``Retry-After`` asks (a wait longer than ``ARENA_LLM_RETRY_AFTER_MAX_S`` skips to the next
   profile instead). 4xx request errors are never retried. Each attempt has its own timeout, and
   a request ``deadline`` stops new attempts.
4. **Budget**: before each attempt of a capped profile its worst case is reserved
   (:mod:`agents.budget`); a refusal is a ``budget_denied`` attempt and the call is not made.
5. **Validation**: strict parse, then local repair (``json-repair``), then the profile's repair
   profile asked to fix the JSON against the schema, then give up (the agent abstains; the raw
   text and the reason are kept).

Every attempt (retries, fallbacks, repair calls, denials) becomes a :class:`CallAttempt` with its
status, tokens, cost, latency, request id and redacted error; the debate service writes one ledger
row per attempt. Database work (budgets) goes through ``sync_to_async(thread_sensitive=True)``,
so under ``async_to_sync`` it runs on the caller's thread, connection and transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from pydantic import BaseModel

from agents import budget, pricing
from agents.models import Provider
from agents.output import parse_local, parse_strict
from agents.prompts import (
    RenderedPrompt,
    prompt_version_for,
    render_agent_prompt,
    render_health_check_prompt,
    render_repair_prompt,
    render_schema_instructions,
)
from agents.providers import get_provider
from agents.providers.base import AgentRequest, ProfileSpec, ProviderCall, ProviderError, ProviderReply, Usage
from agents.redact import redact
from agents.schemas import HealthCheck

logger = logging.getLogger(__name__)


class CallStatus:
    """Statuses of a ledger attempt (and of a result, which is ``ok`` whenever it has an output)."""

    OK = "ok"
    REPAIRED = "repaired"
    INVALID_OUTPUT = "invalid_output"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    PROVIDER_ERROR = "provider_error"
    BUDGET_DENIED = "budget_denied"


class RepairedBy:
    NONE = "none"
    LOCAL = "local"
    MODEL = "model"


class Purpose:
    ANALYSIS = "analysis"
    JUDGE = "judge"
    REPAIR = "repair"
    ESCALATION = "escalation"
    HEALTH_CHECK = "health_check"


@dataclass(frozen=True)
class CallAttempt:
    """One request made (or refused by the budget) on behalf of one agent: one ledger row."""

    attempt: int
    profile: ProfileSpec
    purpose: str
    role: str
    status: str
    usage: Usage | None
    cost_usd: Decimal | None
    latency_ms: int
    request_id: str | None
    error: str
    prompt_version: str

    @property
    def provider(self) -> str:
        return self.profile.provider

    @property
    def model(self) -> str:
        return self.profile.model


@dataclass(frozen=True)
class AgentResult:
    """What one agent answered, and everything it took (``attempts``, one per ledger row).

    ``profile`` is the profile that finally answered (the requested one when none did);
    ``status`` is ``ok`` whenever ``output`` is set (``repaired_by`` says how), else the status of
    the attempt that decided the failure; ``usage`` sums the tokens every attempt reported;
    ``cost_usd`` sums every attempt's cost and is ``None`` when any of them is unknown.
    """

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
    repaired_by: str = RepairedBy.NONE
    attempts: tuple[CallAttempt, ...] = ()
    round: int = 1
    session_id: int | None = None

    @property
    def role(self) -> str:
        return self.profile.role

    @property
    def valid(self) -> bool:
        return self.output is not None

    @property
    def known_cost_usd(self) -> Decimal:
        return sum((a.cost_usd for a in self.attempts if a.cost_usd is not None), Decimal(0))

    @property
    def unknown_cost_attempts(self) -> int:
        return sum(a.cost_usd is None for a in self.attempts)


# --- configuration ------------------------------------------------------------------------------


def _param(spec: ProfileSpec, name: str, default: Any) -> Any:
    value = spec.params.get(name)
    return default if value is None else value


def _max_tokens(spec: ProfileSpec) -> int:
    return int(_param(spec, "max_tokens", settings.ARENA_LLM_MAX_TOKENS))


def _backoff(retry: int, retry_after: float | None, spec: ProfileSpec) -> float | None:
    """Seconds to wait before retry number ``retry`` (0-based); ``None``: too long, move on.

    Full jitter (uniform between 0 and the exponential cap) spreads out clients that failed
    together; a server's ``Retry-After`` is a floor, with up to 10% jitter on top.
    """
    base = float(_param(spec, "backoff_base_s", settings.ARENA_LLM_BACKOFF_BASE_S))
    cap = float(_param(spec, "backoff_max_s", settings.ARENA_LLM_BACKOFF_MAX_S))
    if retry_after is not None:
        if retry_after > settings.ARENA_LLM_RETRY_AFTER_MAX_S:
            return None
        return retry_after + random.uniform(0, min(retry_after * 0.1, 1.0))  # noqa: S311 - jitter
    return random.uniform(0, min(cap, base * 2**retry))  # noqa: S311 - jitter, not crypto


def _input_upper_bound(call: ProviderCall) -> int:
    """A token count the prompt cannot exceed: its UTF-8 bytes (a BPE token is at least one byte),
    with the schema and some framing per message."""
    size = sum(len(part.encode()) for part in (call.system, call.user, call.schema_instructions))
    return size + 64


_db_reserve = sync_to_async(budget.budget_reserve, thread_sensitive=True)
_db_settle = sync_to_async(budget.budget_settle, thread_sensitive=True)


# --- one job: a profile chain, one output model, one prompt per profile -------------------------


@dataclass
class _Job:
    profile: ProfileSpec
    role: str
    purpose: str
    output_model: type[BaseModel]
    prompt: Callable[[ProfileSpec], RenderedPrompt]
    request: AgentRequest | None = None
    timeout_s: float | None = None
    deadline: float | None = None
    use_fallbacks: bool = True
    use_repair: bool = True
    round: int = 1
    session_id: int | None = None
    attempts: list[CallAttempt] = field(default_factory=list)

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()


@dataclass(frozen=True)
class _Answer:
    spec: ProfileSpec
    reply: ProviderReply
    index: int  # of its attempt in job.attempts
    prompt_version: str


@functools.cache  # a handful of output models, asked for on every call
def _schema_name(model: type[BaseModel]) -> str:
    name = model.__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _call(job: _Job, spec: ProfileSpec) -> tuple[ProviderCall, str]:
    """The provider call for ``spec`` (and its prompt version); rules profiles get no prompt."""
    timeout = float(_param(spec, "timeout_s", settings.ARENA_LLM_TIMEOUT_S))
    if job.timeout_s is not None:
        timeout = min(timeout, job.timeout_s)
    remaining = job.remaining()
    if remaining is not None:
        timeout = max(min(timeout, remaining), 0.01)
    if spec.provider == Provider.RULES:
        call = ProviderCall(
            spec, "", "", job.output_model, _schema_name(job.output_model), "", 0, timeout, job.request
        )
        return call, ""
    prompt = job.prompt(spec)
    version = prompt_version_for(spec.params)
    call = ProviderCall(
        profile=spec,
        system=prompt.system,
        user=prompt.user,
        output_model=job.output_model,
        schema_name=_schema_name(job.output_model),
        schema_instructions=render_schema_instructions(job.output_model, version=version),
        max_tokens=_max_tokens(spec),
        timeout_s=timeout,
        request=job.request,
    )
    return call, prompt.version


def _record(
    job: _Job,
    spec: ProfileSpec,
    purpose: str,
    status: str,
    latency_ms: int = 0,
    *,
    usage: Usage | None = None,
    cost: Decimal | None = Decimal(0),
    request_id: str | None = None,
    error: str = "",
    prompt_version: str = "",
) -> int:
    job.attempts.append(
        CallAttempt(
            attempt=len(job.attempts) + 1,
            profile=spec,
            purpose=purpose,
            role=job.role,
            status=status,
            usage=usage,
            cost_usd=cost,
            latency_ms=latency_ms,
            request_id=request_id,
            error=error,
            prompt_version=prompt_version,
        )
    )
    return len(job.attempts) - 1


async def _reserve(job: _Job, spec: ProfileSpec, call: ProviderCall) -> budget.BudgetHold | str | None:
    """A hold for a capped profile, ``None`` when uncapped, or the reason the call is refused."""
    if spec.budget_usd is None or spec.provider == Provider.RULES:
        return None
    worst = pricing.worst_case_cost(
        spec, input_tokens=_input_upper_bound(call), output_tokens=call.max_tokens
    )
    if worst is None:
        return (
            f"Budget of {spec.name} cannot be enforced: no price is known for model {spec.model!r}; "
            "set price_input_per_mtok and price_output_per_mtok."
        )
    ttl = dt.timedelta(seconds=settings.ARENA_BUDGET_HOLD_TTL_S)
    decision = await _db_reserve(profile_id=spec.id, amount=worst, ttl=ttl, period=spec.budget_period)
    if isinstance(decision, budget.BudgetDenial):
        return decision.message
    return decision


async def _attempt(
    job: _Job, spec: ProfileSpec, call: ProviderCall, purpose: str, version: str
) -> _Answer | ProviderError:
    """One request (or one budget refusal): recorded on ``job.attempts`` whatever happens.

    Latency is the provider call alone: not the first-use import of an SDK, not the budget's
    database work, not pricing.
    """
    try:
        provider = get_provider(spec.provider)
    except ProviderError as exc:
        _record(job, spec, purpose, CallStatus.PROVIDER_ERROR, error=str(exc), prompt_version=version)
        return exc
    hold = await _reserve(job, spec, call)
    if isinstance(hold, str):
        _record(job, spec, purpose, CallStatus.BUDGET_DENIED, error=hold, prompt_version=version)
        return ProviderError(CallStatus.BUDGET_DENIED, hold)
    reply: ProviderReply | None = None
    error: ProviderError | None = None
    started = time.perf_counter()
    try:
        reply = await provider.complete(call)
    except ProviderError as exc:
        error = exc
    except asyncio.CancelledError:
        if hold is not None:  # the request may have been billed: keep the cap honest
            await asyncio.shield(_db_settle(hold=hold, charged=hold.amount))
        raise
    except Exception as exc:  # a provider bug must not take the debate down
        logger.exception("provider %s failed unexpectedly for profile %s", spec.provider, spec.name)
        error = ProviderError(CallStatus.PROVIDER_ERROR, f"{type(exc).__name__}: {exc}")
    latency_ms = int((time.perf_counter() - started) * 1000)
    if reply is not None:
        cost = pricing.call_cost(spec, reply.usage)
    else:
        assert error is not None  # noqa: S101 - one of the two is set
        cost = None if error.may_be_billed else Decimal(0)
    if hold is not None:
        await _db_settle(hold=hold, charged=cost if cost is not None else hold.amount)
    if reply is not None:
        index = _record(
            job,
            spec,
            purpose,
            CallStatus.OK,
            latency_ms,
            usage=reply.usage,
            cost=cost,
            request_id=reply.request_id,
            prompt_version=version or reply.prompt_version,
        )
        return _Answer(spec, reply, index, version or reply.prompt_version)
    assert error is not None  # noqa: S101
    kind = error.kind if error.kind in _FAILURES else CallStatus.PROVIDER_ERROR
    message = redact(str(error))
    _record(
        job,
        spec,
        purpose,
        kind,
        latency_ms,
        cost=cost,
        request_id=error.request_id,
        error=message,
        prompt_version=version,
    )
    logger.warning(
        "LLM call failed: profile=%s status=%s session=%s: %s", spec.name, kind, job.session_id, message
    )
    return error


_FAILURES = {CallStatus.TIMEOUT, CallStatus.RATE_LIMITED, CallStatus.PROVIDER_ERROR, CallStatus.BUDGET_DENIED}


async def _try_profile(job: _Job, spec: ProfileSpec, purpose: str) -> _Answer | ProviderError:
    """The attempts of one profile: retries with backoff, immediate retries after a downgrade."""
    max_retries = int(_param(spec, "max_retries", settings.ARENA_LLM_MAX_RETRIES))
    retries = downgrades = 0
    while True:
        remaining = job.remaining()
        if remaining is not None and remaining <= 0:
            return ProviderError(CallStatus.TIMEOUT, "The caller's deadline passed before this attempt.")
        try:
            call, version = _call(job, spec)
        except Exception as exc:  # a missing template: a configuration error, said plainly
            message = redact(f"Cannot build the prompt: {exc}")
            _record(job, spec, purpose, CallStatus.PROVIDER_ERROR, error=message)
            return ProviderError(CallStatus.PROVIDER_ERROR, message)
        outcome = await _attempt(job, spec, call, purpose, version)
        if isinstance(outcome, _Answer):
            return outcome
        if outcome.downgraded and downgrades < 2:
            downgrades += 1
            continue
        if not outcome.retryable or retries >= max_retries:
            return outcome
        delay = _backoff(retries, outcome.retry_after, spec)
        remaining = job.remaining()
        if delay is None or (remaining is not None and delay >= remaining):
            return outcome
        retries += 1
        await asyncio.sleep(delay)


async def _first_answer(job: _Job) -> _Answer | ProviderError:
    chain = (job.profile, *job.profile.fallbacks) if job.use_fallbacks else (job.profile,)
    outcome: _Answer | ProviderError = ProviderError(CallStatus.PROVIDER_ERROR, "No profile to ask.")
    for spec in chain:
        outcome = await _try_profile(job, spec, job.purpose)
        if isinstance(outcome, _Answer):
            return outcome
    return outcome


def _mark(job: _Job, index: int, status: str, error: str = "") -> None:
    job.attempts[index] = replace(
        job.attempts[index], status=status, error=error or job.attempts[index].error
    )


async def _validated(job: _Job, answer: _Answer) -> tuple[BaseModel | None, str, str]:
    """(output, repaired_by, reason): strict, local repair, repair profile, or give up."""
    model, reply = job.output_model, answer.reply
    output, strict_error = parse_strict(model, reply.text, reply.parsed)
    if output is not None:
        return output, RepairedBy.NONE, ""
    if reply.refusal:
        reason = redact(f"The model refused: {reply.refusal}")
        _mark(job, answer.index, CallStatus.INVALID_OUTPUT, reason)
        return None, RepairedBy.NONE, reason
    truncated = " (the answer hit the output-token limit)" if reply.truncated else ""
    output, local_error = parse_local(model, reply.text)
    if output is not None:
        _mark(job, answer.index, CallStatus.REPAIRED, f"Repaired locally: {strict_error}{truncated}")
        return output, RepairedBy.LOCAL, f"Repaired locally: {strict_error}{truncated}"
    reason = redact(f"{local_error or strict_error}{truncated}")
    _mark(job, answer.index, CallStatus.INVALID_OUTPUT, reason)
    repairer = answer.spec.repair or job.profile.repair
    if not job.use_repair or repairer is None or repairer.provider == Provider.RULES:
        return None, RepairedBy.NONE, reason
    return await _model_repair(job, repairer, reply.text, reason)


async def _model_repair(
    job: _Job, repairer: ProfileSpec, raw: str, reason: str
) -> tuple[BaseModel | None, str, str]:
    version = prompt_version_for(repairer.params)
    prompt = render_repair_prompt(model=job.output_model, raw=raw[:20_000], errors=reason, version=version)
    repair_job = replace(job, profile=repairer, prompt=lambda _spec: prompt, attempts=job.attempts)
    outcome = await _try_profile(repair_job, repairer, Purpose.REPAIR)
    if not isinstance(outcome, _Answer):
        return (
            None,
            RepairedBy.NONE,
            f"{reason}; the repair profile {repairer.name} failed: {redact(str(outcome))}",
        )
    output, error = parse_strict(job.output_model, outcome.reply.text, outcome.reply.parsed)
    if output is None:
        output, error = parse_local(job.output_model, outcome.reply.text)
        if output is not None:
            _mark(job, outcome.index, CallStatus.REPAIRED, "Repair answer repaired locally.")
    if output is None:
        _mark(job, outcome.index, CallStatus.INVALID_OUTPUT, redact(error))
        return (
            None,
            RepairedBy.NONE,
            f"{reason}; the repair profile {repairer.name} did not fix it: {redact(error)}",
        )
    return output, RepairedBy.MODEL, f"Repaired by {repairer.name}: {reason}"


def _sum_usage(attempts: list[CallAttempt]) -> Usage:
    total = Usage()
    for attempt in attempts:
        if attempt.usage is not None:
            total = total + attempt.usage
    return total


def _total_cost(attempts: list[CallAttempt]) -> Decimal | None:
    if any(a.cost_usd is None for a in attempts):
        return None
    return sum((a.cost_usd for a in attempts if a.cost_usd is not None), Decimal(0))


def _result(job: _Job, started: float, **fields: Any) -> AgentResult:
    return AgentResult(
        purpose=job.purpose,
        usage=_sum_usage(job.attempts),
        cost_usd=_total_cost(job.attempts),
        latency_ms=int((time.perf_counter() - started) * 1000),
        attempts=tuple(job.attempts),
        round=job.round,
        session_id=job.session_id,
        **fields,
    )


def _failure_summary(job: _Job, last: ProviderError) -> str:
    """What the message records when no profile answered: how much was tried, and the last error."""
    tried = list(dict.fromkeys(a.profile.name for a in job.attempts))
    if len(job.attempts) <= 1:
        return redact(str(last))
    return redact(f"{len(job.attempts)} attempts failed ({', '.join(tried)}); last: {last}")


async def run_job(job: _Job) -> AgentResult:
    """Ask the job's profile chain, validate (and repair) the answer; never raises."""
    started = time.perf_counter()
    try:
        answer = await _first_answer(job)
        if not isinstance(answer, _Answer):
            return _result(
                job,
                started,
                profile=job.profile,
                status=answer.kind if answer.kind in _FAILURES else CallStatus.PROVIDER_ERROR,
                output=None,
                raw_text="",
                error=_failure_summary(job, answer),
                request_id=answer.request_id,
                prompt_version=job.attempts[-1].prompt_version if job.attempts else "",
            )
        output, repaired_by, reason = await _validated(job, answer)
        return _result(
            job,
            started,
            profile=answer.spec,
            status=CallStatus.OK if output is not None else CallStatus.INVALID_OUTPUT,
            output=output,
            raw_text=answer.reply.text,
            error=reason,
            request_id=answer.reply.request_id,
            prompt_version=answer.prompt_version,
            repaired_by=repaired_by,
        )
    except Exception as exc:  # the contract: a result, never an exception
        logger.exception("gateway failed for profile %s", job.profile.name)
        return _result(
            job,
            started,
            profile=job.profile,
            status=CallStatus.PROVIDER_ERROR,
            output=None,
            raw_text="",
            error=redact(f"Internal error: {type(exc).__name__}: {exc}"),
            request_id=None,
            prompt_version="",
        )


async def run_agent(request: AgentRequest) -> AgentResult:
    """Ask one agent (with its fallbacks and repair profile); validate against the role's model."""
    cache: dict[str, RenderedPrompt] = {}

    def prompt(spec: ProfileSpec) -> RenderedPrompt:
        version = prompt_version_for(spec.params)
        if version not in cache:
            cache[version] = render_agent_prompt(
                role=request.role,
                context=request.context,
                analyst_views=request.analyst_views,
                quorum=request.quorum,
                version=version,
            )
        return cache[version]

    job = _Job(
        profile=request.profile,
        role=request.role,
        purpose=request.purpose,
        output_model=request.output_model,
        prompt=prompt,
        request=request,
        timeout_s=request.timeout_s,
        deadline=request.deadline,
        round=request.round,
        session_id=request.session_id,
    )
    return await run_job(job)


async def check_profile(spec: ProfileSpec, *, timeout_s: float | None = None) -> AgentResult:
    """One tiny structured call to ``spec`` alone (no fallbacks, no repair model): is it usable?"""
    if spec.provider == Provider.RULES:
        now = time.perf_counter()
        job = _Job(spec, spec.role, Purpose.HEALTH_CHECK, HealthCheck, lambda _s: RenderedPrompt("", "", ""))
        _record(job, spec, Purpose.HEALTH_CHECK, CallStatus.OK, prompt_version="rules-v1")
        output = HealthCheck(status="ok", echo="rules")
        return _result(
            job,
            now,
            profile=spec,
            status=CallStatus.OK,
            output=output,
            raw_text=output.model_dump_json(),
            error="",
            request_id=None,
            prompt_version="rules-v1",
        )
    nonce = uuid.uuid4().hex[:8]
    version = prompt_version_for(spec.params)
    prompt = render_health_check_prompt(nonce=nonce, version=version)
    health_spec = replace(spec, params={**spec.params, "max_tokens": min(_max_tokens(spec), 256)})
    job = _Job(
        profile=health_spec,
        role=spec.role,
        purpose=Purpose.HEALTH_CHECK,
        output_model=HealthCheck,
        prompt=lambda _spec: prompt,
        timeout_s=timeout_s,
        use_fallbacks=False,
        use_repair=False,
    )
    result = await run_job(job)
    return replace(result, profile=spec)
