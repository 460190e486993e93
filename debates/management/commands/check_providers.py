"""Check every active profile (or one) with a tiny structured call, record it, print a table.

Exit status is non-zero when any profile fails, so a deploy script can gate on it. A missing key
fails with the name of the variable to set; keys themselves are never printed.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.gateway import AgentResult
from agents.models import AgentProfile
from agents.services import check_latency_ms, check_status, profiles_check


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
        # the checks, and their rows in the LLM call ledger (debates registers the recorder)
        results = profiles_check(profiles=profiles, timeout_s=options["timeout"])
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
            status = check_status(result)
            latency = check_latency_ms(result)
            self.stdout.write(
                f"{spec.name[:28]:<28} {spec.provider:<18} {spec.model[:24]:<24} {status:<15} "
                f"{latency:>6} {result.usage.input_tokens:>6} {result.usage.output_tokens:>5} "
                f"{result.usage.cached_tokens:>6} {_cost(result):>10}  {result.error[:160]}"
            )
