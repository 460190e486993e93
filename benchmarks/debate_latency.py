"""Debate wall time against its physical limit, on a local OpenAI-compatible server with a fixed delay.

Every call to tests/fakes/llm_server.py answers after exactly D seconds (a valid object built from
the JSON schema the request carries), through the gateway's real ``openai_compatible`` provider and
the real OpenAI SDK over HTTP. The server runs in its own process (as a real model server is
remote): in-process, its request handling would compete with the measured worker for the GIL.
A debate is five analysts and a judge, so its physical limit is one analyst round plus one judge
call, 2·D. Reported: wall time / 2·D for

- single debates, one after another: the whole ``debate_session_run`` (context through the tool
  router, both rounds, persistence of messages, ledger and consensus), median and worst;
- a burst of B debates started together on one worker (``debate_sessions_run``: one process, one
  event loop, one thread): the wall time of the whole burst / 2·D.

It also measures the floor this machine and server allow: five concurrent bare SDK calls, then
one, with a prompt of the same size and no Arena code around them (and B such pairs at once for
the burst). Anything above 2·D in the floor is the SDK, the local HTTP stack, the fake server and
the machine's load, not the coordinator.

Target (issue [3/6]): <= 1.15 for D = 200 ms and 5 analysts.

    .venv/bin/python benchmarks/debate_latency.py                       # PostgreSQL (BENCH_DATABASE_URL)
    .venv/bin/python benchmarks/debate_latency.py --delay 0.2 --debates 10 --burst 20
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

from _setup import ROOT, django_setup

KEY_ENV = "ARENA_LATENCY_BENCH_KEY"


@contextlib.contextmanager
def fake_server(delay: float) -> Iterator[str]:
    """``python -m tests.fakes.llm_server`` in a child process; yields its OpenAI base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tests.fakes.llm_server", "--port", str(port), "--delay", str(delay)]
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if "base_url" not in line:
            raise RuntimeError(f"the fake LLM server did not start: {line!r}")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        child.terminate()
        child.wait(timeout=10)


def _panel(base_url: str):  # type: ignore[no-untyped-def]
    """A panel of five analysts and a judge, every one an openai_compatible profile on the fake."""
    from agents.models import ANALYST_ROLES, AgentProfile, Panel, PanelSeat, PanelStage, Provider, Role

    panel, _ = Panel.objects.update_or_create(
        name="latency-bench", defaults={"call_timeout_s": 10.0, "deadline_s": 60.0, "quorum": 3}
    )
    PanelSeat.objects.filter(panel=panel).delete()
    for role in (*ANALYST_ROLES, Role.JUDGE):
        profile, _ = AgentProfile.objects.update_or_create(
            name=f"latency-{role}",
            defaults={
                "role": role,
                "provider": Provider.OPENAI_COMPATIBLE,
                "model": "fake-llm",
                "base_url": base_url,
                "api_key_env": KEY_ENV,
                "params": {"max_retries": 0},
                "price_input_per_mtok": "0.15",
                "price_output_per_mtok": "0.60",
            },
        )
        stage = PanelStage.JUDGE if role == Role.JUDGE else PanelStage.ANALYST
        PanelSeat.objects.create(panel=panel, stage=stage, role=role, profile=profile)
    return panel


def sdk_floor(base_url: str, *, debates: int = 1, repeats: int = 5) -> float:
    """Median seconds for ``debates`` concurrent "debates" of bare SDK calls (five concurrent chat
    calls, then one more), with prompts of the same size and no Arena code around them."""
    import asyncio

    import openai

    from agents.schemas import AnalystOutput

    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "analysis", "schema": AnalystOutput.model_json_schema()},
    }
    prompt = [{"role": "user", "content": "x" * 3600}]  # about the size of an analyst prompt

    async def measure() -> list[float]:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)

        async def call() -> None:
            await client.chat.completions.create(model="fake-llm", messages=prompt, response_format=fmt)  # type: ignore[call-overload]

        async def bare_debate() -> None:
            await asyncio.gather(*(call() for _ in range(5)))
            await call()

        await asyncio.gather(*(bare_debate() for _ in range(debates)))  # connections opened
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            await asyncio.gather(*(bare_debate() for _ in range(debates)))
            times.append(time.perf_counter() - started)
        await client.close()
        return times

    return statistics.median(asyncio.run(measure()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.2, help="D: seconds the server waits per call")
    parser.add_argument("--debates", type=int, default=10, help="single debates, one after another")
    parser.add_argument("--burst", type=int, default=20, help="debates started together on one worker")
    args = parser.parse_args()
    django_setup()
    sys.path.insert(0, str(ROOT))
    os.environ[KEY_ENV] = "bench-key-not-secret"

    from debates.models import DebateSession, DebateStatus
    from debates.services import (
        debate_session_claim,
        debate_session_create,
        debate_session_run,
        debate_sessions_run,
    )

    limit = 2 * args.delay
    with fake_server(args.delay) as base_url:
        floor = sdk_floor(base_url)
        panel = _panel(base_url)
        as_of = dt.date(2024, 3, 1)

        def queued() -> DebateSession:
            return debate_session_create(symbol="ACME", as_of=as_of, panel=panel, enqueue=False)

        for _ in range(2):  # warm-up: SDK import, HTTP connections, prompt templates
            session = queued()
            debate_session_claim(session_id=session.pk)
            debate_session_run(session_id=session.pk)

        singles, coordinator_ms = [], []
        for _ in range(args.debates):
            session = queued()
            debate_session_claim(session_id=session.pk)
            started = time.perf_counter()
            session = debate_session_run(session_id=session.pk)
            singles.append(time.perf_counter() - started)
            assert session.status == DebateStatus.COMPLETED, session.error
            coordinator_ms.append(sum(r.latency_ms for r in session.rounds.all()))

        burst_ids = [queued().pk for _ in range(args.burst)]
        started = time.perf_counter()
        ran = debate_sessions_run(session_ids=burst_ids)
        burst = time.perf_counter() - started
        statuses = sorted({str(s.status) for s in ran})
        burst_floor = sdk_floor(base_url, debates=args.burst, repeats=3)

    print(f"D = {args.delay * 1000:.0f} ms per call; 5 analysts + judge; limit 2·D = {limit * 1000:.0f} ms")
    print(
        f"single debates ({args.debates}, end to end through debate_session_run): median "
        f"{statistics.median(singles) * 1000:.0f} ms = {statistics.median(singles) / limit:.3f} x limit; "
        f"worst {max(singles) * 1000:.0f} ms = {max(singles) / limit:.3f} x"
    )
    print(
        f"floor on this machine (5 concurrent bare SDK calls, then 1; no Arena code): "
        f"{floor * 1000:.0f} ms = {floor / limit:.3f} x limit"
    )
    rounds = statistics.median(coordinator_ms)
    print(
        f"  of which the coordinator's rounds (analysts + judge): median {rounds:.0f} ms = "
        f"{rounds / 1000 / limit:.3f} x"
    )
    print(
        f"burst of {args.burst} debates on one worker (one event loop): {burst * 1000:.0f} ms = "
        f"{burst / limit:.3f} x limit; statuses {statuses}"
    )
    print(
        f"burst floor ({args.burst} x (5 concurrent bare SDK calls, then 1), one client, no Arena code): "
        f"{burst_floor * 1000:.0f} ms = {burst_floor / limit:.3f} x limit"
    )


if __name__ == "__main__":
    main()
