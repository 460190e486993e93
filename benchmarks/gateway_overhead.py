"""The gateway's own overhead per call, against a local OpenAI-compatible server with zero delay.

Both sides send the same request (the analyst prompt and strict JSON schema the gateway renders) to
the fake server running in its own process, one call at a time on one event loop:

* raw: the OpenAI SDK's ``chat.completions.create`` on a client built once, nothing else;
* gateway: ``run_agent`` for an ``openai_compatible`` profile (prompt rendering, the hop to the
  provider I/O loop, the same SDK call, validation, pricing, the attempt record);
* gateway + budget: the same with a spending cap, which adds the reservation and the settlement
  (two short transactions on the database).

overhead = median(gateway) - median(raw), in wall time and in this process's CPU time (which a busy
shared machine disturbs less). Run::

    python benchmarks/gateway_overhead.py                 # PostgreSQL (BENCH_DATABASE_URL)
    python benchmarks/gateway_overhead.py --sqlite --calls 300
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._setup import ROOT, django_setup

# The fake writes headers and body in two writes; with Nagle's algorithm on, the body then waits for
# the client's delayed ACK (40 ms on Linux) on some calls and not others, which would swamp what we
# measure. TCP_NODELAY (the handler's own switch) removes that artefact of the fake.
SERVER = (
    "from tests.fakes import llm_server; llm_server._Handler.disable_nagle_algorithm = True; "
    "llm_server.main(['--port', '{port}', '--delay', '0'])"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def fake_server() -> object:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-c", SERVER.format(port=port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # the server prints its URLs once it listens
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(5)


async def _timed(
    calls: dict[str, Callable[[], Awaitable[object]]], n: int, warmup: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Round-robin over the variants, so a busy neighbour on the machine slows all of them alike."""
    for _ in range(warmup):
        for call in calls.values():
            await call()
    wall: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(n):
        for name, call in calls.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            await call()
            wall[name].append((time.perf_counter() - started) * 1000)
            cpu[name].append((time.process_time() - cpu_started) * 1000)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--sqlite", action="store_true", help="Use a throwaway SQLite file instead of PostgreSQL."
    )
    args = parser.parse_args()
    sqlite_file = Path(tempfile.gettempdir()) / "arena_bench_gateway.sqlite3"
    django_setup(f"sqlite:///{sqlite_file}" if args.sqlite else None)

    import openai

    from agents.gateway import run_agent
    from agents.models import AgentProfile, Provider, Role
    from agents.prompts import render_agent_prompt
    from agents.providers.base import AgentRequest
    from agents.providers.http import strict_json_schema
    from agents.schemas import AnalystOutput
    from agents.selectors import profile_spec_get
    from debates.market.sources import PaperAccountSource, get_source
    from debates.models import Bar
    from debates.tools import ToolRouter

    as_of = Bar.objects.filter(instrument__symbol="ACME").latest("date").date
    context = ToolRouter(get_source(), PaperAccountSource()).gather_context("ACME", as_of, lookback=260)

    with fake_server() as base_url:
        prices = {"price_input_per_mtok": Decimal("0.1"), "price_output_per_mtok": Decimal("0.2")}
        plain, _ = AgentProfile.objects.update_or_create(
            name="bench-gateway",
            defaults={
                "role": Role.BULL,
                "provider": Provider.OPENAI_COMPATIBLE,
                "model": "bench",
                "base_url": base_url,
                "params": {"max_retries": 0},
                "budget_usd": None,
                **prices,
            },
        )
        capped, _ = AgentProfile.objects.update_or_create(
            name="bench-gateway-budget",
            defaults={
                "role": Role.BULL,
                "provider": Provider.OPENAI_COMPATIBLE,
                "model": "bench",
                "base_url": base_url,
                "params": {"max_retries": 0},
                "budget_usd": Decimal(100_000),
                "budget_period": "total",
                **prices,
            },
        )
        plain_request = AgentRequest(profile=profile_spec_get(profile=plain), context=context)
        capped_request = AgentRequest(profile=profile_spec_get(profile=capped), context=context)
        prompt = render_agent_prompt(role="bull", context=context, analyst_views=(), quorum=3, version="v1")
        raw_arguments = {
            "model": "bench",
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            "max_tokens": 2048,
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "analyst_output",
                    "schema": strict_json_schema(AnalystOutput),
                    "strict": True,
                },
            },
        }

        async def run() -> dict[str, list[float]]:
            client = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)

            async def raw() -> None:
                completion = await client.chat.completions.create(**raw_arguments)
                AnalystOutput.model_validate_json(completion.choices[0].message.content or "")

            async def gateway() -> None:
                result = await run_agent(plain_request)
                assert result.valid, result.error

            async def budgeted() -> None:
                result = await run_agent(capped_request)
                assert result.valid, result.error

            variants = {"raw SDK": raw, "gateway": gateway, "gateway + budget": budgeted}
            timings = await _timed(variants, args.calls, args.warmup)
            await client.close()
            return timings

        results, cpu = asyncio.run(run())

    print(
        f"{args.calls} sequential calls each, fake server in its own process, zero delay "
        f"({'SQLite' if args.sqlite else 'PostgreSQL'})"
    )
    print(f"{'':<18} {'median ms':>10} {'p10 ms':>8} {'p90 ms':>8} {'CPU ms':>8}")
    for name, samples in results.items():
        deciles = statistics.quantiles(samples, n=10)
        print(
            f"{name:<18} {statistics.median(samples):>10.2f} {deciles[0]:>8.2f} {deciles[-1]:>8.2f} "
            f"{statistics.median(cpu[name]):>8.2f}"
        )
    base = statistics.median(results["raw SDK"])
    cpu_base = statistics.median(cpu["raw SDK"])
    print(
        f"gateway overhead per call: {statistics.median(results['gateway']) - base:.2f} ms wall, "
        f"{statistics.median(cpu['gateway']) - cpu_base:.2f} ms CPU (this process, all threads)"
    )
    print(
        f"gateway + budget overhead per call: {statistics.median(results['gateway + budget']) - base:.2f} ms"
    )


if __name__ == "__main__":
    main()
