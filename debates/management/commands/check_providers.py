"""Check every active profile (or one) with a tiny structured call, record it, print a table.

Exit status is non-zero when any profile fails, so a deploy script can gate on it. A missing key
fails with the name of the variable to set; keys themselves are never printed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from agents.gateway import AgentResult, check_profile
from agents.models import AgentProfile
from agents.providers.base import ProfileSpec
from agents.selectors import profile_specs_resolve
from debates.ledger import llm_calls_record

CONCURRENCY = 8


async def _check_all(specs: list[ProfileSpec], timeout_s: float) -> list[AgentResult]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(spec: ProfileSpec) -> AgentResult:
        async with gate:
            return await check_profile(spec, timeout_s=timeout_s)

    return list(await asyncio.gather(*(one(spec) for spec in specs)))


def _cost(result: AgentResult) -> str:
    if result.cost_usd is None:
        return "unknown"
    return f"{result.cost_usd:.6f}"


class Command(BaseCommand):
    help = (
        "Make one tiny structured call per active profile and print provider, model, status, "
        "latency, tokens and cost."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--profile", help="Check only this profile (active or not).")
        parser.add_argument(
            "--timeout", type=float, default=20.0, help="Seconds each call may take (default 20)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["timeout"] <= 0:
            raise CommandError("--timeout must be a positive number of seconds.")
        profiles = self._profiles(options["profile"])
        specs = profile_specs_resolve(profiles)
        ordered = [specs[p.pk] for p in profiles]
        results = async_to_sync(_check_all)(ordered, options["timeout"])
        with transaction.atomic():
            llm_calls_record(results=[(result, None) for result in results])
        self._print(results)
        failed = [r.profile.name for r in results if not r.valid]
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} profile(s) failed: {', '.join(failed)}.")

    def _profiles(self, name: str | None) -> list[AgentProfile]:
        if name:
            profile = AgentProfile.objects.filter(name=name).first()
            if profile is None:
                raise CommandError(f"Unknown profile {name!r}.")
            return [profile]
        profiles = list(AgentProfile.objects.filter(active=True).order_by("name"))
        if not profiles:
            raise CommandError("No active profiles to check.")
        return profiles

    def _print(self, results: list[AgentResult]) -> None:
        self.stdout.write(
            f"{'profile':<28} {'provider':<18} {'model':<24} {'status':<15} {'ms':>6} "
            f"{'in':>6} {'out':>5} {'cached':>6} {'cost $':>10}  error"
        )
        for result in results:
            spec = result.profile
            attempts = result.attempts
            status = result.status if not attempts or result.valid else attempts[-1].status
            latency = sum(a.latency_ms for a in attempts)
            self.stdout.write(
                f"{spec.name[:28]:<28} {spec.provider:<18} {spec.model[:24]:<24} {status:<15} "
                f"{latency:>6} {result.usage.input_tokens:>6} {result.usage.output_tokens:>5} "
                f"{result.usage.cached_tokens:>6} {_cost(result):>10}  {result.error[:160]}"
            )
