"""Cost against decision quality of cheap-first escalation, swept over the trigger thresholds.

A simulator, run through the real machinery: debates are recorded with the rules panel (tool calls
stored as usual), then every debate is replayed on its recorded context (debates/replay.py) by the
ArenaCoordinator with simulated agents registered as a provider. Per setting it prints the cost
relative to an always-powerful panel and the share of decisions (buy / sell / hold) equal to that
panel's, and writes the curve to benchmarks/out/escalation_frontier.svg. Each trigger family runs
with and without the judge switch; combined triggers run as "any fires" (the default) and as "all
fire" (``escalation_needs_all_triggers``); the ``staged`` scope (dissenters first, the rest of the
panel in a third round only when the triggers still escalate) runs under the same combined trigger.

Then the bounds, i.e. what no trigger can beat:
- an oracle per escalation mode (whole panel, dissenters, judge only, staged - the dissenters or,
  where they do not fix it, the whole panel - and any subset of analysts chosen per debate):
  escalate exactly the debates whose cheap decision differs from the powerful panel's and that the
  mode fixes, each the cheapest way, cheapest first;
- the best possible trigger for whole-panel escalation: the Bayes-optimal rule on the first round's
  answers, computed from the simulator's own distributions (a real trigger cannot know them), once
  with the confidences and once with the stances only.

The simulated agents (all seeded, so runs are reproducible):
- every debate has a hidden true stance (bullish 40 %, bearish 40 %, neutral 20 %) and is "hard"
  with probability --hard (default 30 %); a hidden high-risk flag is set with probability 10 %;
- an analyst states the true stance with its tier's accuracy (easy / hard debates; defaults cheap
  0.80 / 0.45, powerful 0.93 / 0.75), otherwise one of the two other stances; its confidence is
  drawn higher when it is right (the powerful tier is better calibrated than the cheap one);
- a judge is the confidence-weighted vote of the analysts it is shown (the rules judge); cheap and
  powerful judges decide alike and differ only in price, so the sweep measures what escalating
  analysts buys;
- each call costs the model's real list price from genai-prices for fixed token counts (analyst
  2,500 in / 400 out; judge 3,500 in / 300 out): gpt-4o-mini vs gpt-4o by default,
  --pair anthropic for claude-3-5-haiku vs claude-sonnet-4-5.

    .venv/bin/python benchmarks/escalation_frontier.py                   # 400 debates, SQLite in /tmp
                                                                         # (about 9 CPU-min)
    .venv/bin/python benchmarks/escalation_frontier.py --debates 1000 --pair anthropic
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import itertools
import math
import os
import random
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from _setup import ROOT, django_setup

OUT = ROOT / "benchmarks" / "out"
PAIRS = {
    "openai": (("gpt-4o-mini", "openai"), ("gpt-4o", "openai")),
    "anthropic": (("claude-3-5-haiku-latest", "anthropic"), ("claude-sonnet-4-5", "anthropic")),
}
TOKENS = {"analyst": (2500, 400), "judge": (3500, 300)}
STANCES = ("bullish", "bearish", "neutral")
TRUE_ACTION = {"bullish": "buy", "bearish": "sell", "neutral": "hold"}
TARGET_COST, TARGET_EQUAL = 0.2, 0.95


@dataclass(frozen=True)
class SimParams:
    hard: float = 0.30
    cheap: tuple[float, float] = (0.80, 0.45)  # accuracy on easy, hard debates
    powerful: tuple[float, float] = (0.93, 0.75)
    high_risk: float = 0.10


#: The hidden true stance's distribution.
TRUTH = {"bullish": 0.4, "bearish": 0.4, "neutral": 0.2}
#: An analyst's confidence is uniform on this range, by (tier, whether it is right): the powerful
#: tier is better calibrated (its confidence separates right from wrong better) than the cheap one.
CONFIDENCE = {
    ("powerful", True): (0.6, 0.95),
    ("powerful", False): (0.3, 0.65),
    ("cheap", True): (0.5, 0.9),
    ("cheap", False): (0.4, 0.85),
}


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def sim_answer(rng: random.Random, params: SimParams, tier: str, truth: str, hard: bool) -> tuple[str, float]:
    """One simulated analyst: the true stance with its tier's accuracy, else one of the other two."""
    accuracy = (params.powerful if tier == "powerful" else params.cheap)[int(hard)]
    right = rng.random() < accuracy
    stance = truth if right else rng.choice([s for s in STANCES if s != truth])
    low, high = CONFIDENCE[tier, right]
    return stance, round(rng.uniform(low, high), 4)


def sim_likelihood(
    params: SimParams, tier: str, truth: str, hard: bool, stance: str, confidence: float | None
) -> float:
    """The probability (density, with a confidence) of one analyst's answer given the hidden state;
    ``confidence=None`` looks at the stance only."""
    accuracy = (params.powerful if tier == "powerful" else params.cheap)[int(hard)]
    right = stance == truth
    p = accuracy if right else (1 - accuracy) / 2
    if confidence is None:
        return p
    low, high = CONFIDENCE[tier, right]
    return p / (high - low) if low <= confidence <= high else 0.0


class SimulatedAgents:
    """A provider whose analysts are right with a known probability and whose calls have list prices."""

    name = "sim"

    def __init__(self, params: SimParams) -> None:
        self.params = params

    def world(self, symbol: str, as_of: dt.date) -> tuple[str, bool, bool]:
        rng = _rng("world", symbol, as_of)
        truth = rng.choices(list(TRUTH), weights=list(TRUTH.values()))[0]
        return truth, rng.random() < self.params.hard, rng.random() < self.params.high_risk

    async def complete(self, call):  # type: ignore[no-untyped-def]
        from agents.providers.base import ProviderReply, Usage
        from agents.providers.rules import judge
        from agents.schemas import AnalystOutput, RiskLevel, Stance

        request = call.request
        ctx = request.context
        tier = request.profile.tier
        if request.role == "judge":
            output = judge(request.analyst_views, False, quorum=request.quorum)
            tokens = TOKENS["judge"]
        else:
            truth, hard, high_risk = self.world(ctx.symbol, ctx.as_of)
            rng = _rng("agent", ctx.symbol, ctx.as_of, request.role, tier)
            stance, confidence = sim_answer(rng, self.params, tier, truth, hard)
            risk = (
                (RiskLevel.HIGH if high_risk else RiskLevel.LOW) if request.role == "risk_manager" else None
            )
            output = AnalystOutput(
                stance=Stance(stance),
                confidence=confidence,
                signals=[],
                reasoning=f"simulated {tier} {request.role}",
                key_risks=[],
                risk_level=risk,
            )
            tokens = TOKENS["analyst"]
        usage = Usage(input_tokens=tokens[0], output_tokens=tokens[1])
        return ProviderReply(
            text=output.model_dump_json(), parsed=output, usage=usage, prompt_version="sim-v1"
        )


class Prices:
    """The model pair. The gateway prices every call itself (agents.pricing: genai-prices list
    prices, found through the profile's ``pricing_provider`` parameter); nothing is priced here."""

    def __init__(self, pair: str) -> None:
        self.models = {"cheap": PAIRS[pair][0], "powerful": PAIRS[pair][1]}
        self.unknown = 0

    def of(self, result) -> Decimal:  # type: ignore[no-untyped-def]
        self.unknown += result.unknown_cost_attempts
        return Decimal(result.known_cost_usd)


def _plans(prices: Prices):  # type: ignore[no-untyped-def]
    from agents.models import ANALYST_ROLES
    from agents.providers.base import ProfileSpec
    from agents.selectors import PanelPlan, PanelPolicy

    def spec(i: int, role: str, tier: str) -> ProfileSpec:
        model, provider = prices.models[tier]
        return ProfileSpec(
            id=-i,
            name=f"sim-{role}-{tier}",
            role=role,
            provider="sim",
            model=model,
            tier=tier,
            params={"pricing_provider": provider},
        )

    cheap = {role: spec(i, role, "cheap") for i, role in enumerate(ANALYST_ROLES, 1)}
    strong = {role: spec(10 + i, role, "powerful") for i, role in enumerate(ANALYST_ROLES, 1)}
    base = dict(panel_id=0, call_timeout_s=30.0, deadline_s=120.0, quorum=3)
    powerful = PanelPlan(
        name="always-powerful",
        analysts=strong,
        escalation={},
        judge=spec(21, "judge", "powerful"),
        escalation_judge=None,
        **base,
    )
    cheap_first = PanelPlan(
        name="cheap-first",
        analysts=cheap,
        escalation=strong,
        judge=spec(20, "judge", "cheap"),
        escalation_judge=spec(21, "judge", "powerful"),
        **base,
    )
    return powerful, cheap_first, PanelPolicy


def _settings(policy_cls):  # type: ignore[no-untyped-def]
    """(family, label, policy) for every point of the sweep.

    Each trigger family is swept with the escalation judge switched in (the panel default) and
    without it (the escalated analysts are weighed by the cheap judge again): the simulated judges
    decide alike, so the difference between the two is what the powerful judge costs here.
    """
    out = [("reference", "always cheap (no trigger)", policy_cls())]
    agreement = [round(0.40 + 0.05 * i, 2) for i in range(13)]
    for switch in (True, False):
        judge = "" if switch else ", cheap judge"
        for scope in ("dissenters", "panel"):
            for x in agreement:
                policy = policy_cls(
                    escalate_on_low_agreement=True,
                    agreement_threshold=x,
                    escalation_scope=scope,
                    escalate_on_quorum_shortfall=True,
                    escalation_switches_judge=switch,
                )
                out.append((f"agreement, {scope}{judge}", f"agreement < {x:.2f}, {scope}{judge}", policy))
        for y in [round(0.50 + 0.05 * i, 2) for i in range(9)]:
            policy = policy_cls(
                escalate_on_low_confidence=True,
                confidence_measure="weighted",
                confidence_threshold=y,
                escalation_scope="panel",
                escalation_switches_judge=switch,
            )
            out.append(
                (f"weighted confidence, panel{judge}", f"weighted conf < {y:.2f}, panel{judge}", policy)
            )
        for z in [round(0.10 + 0.05 * i, 2) for i in range(9)]:
            policy = policy_cls(
                escalate_on_low_judge_confidence=True,
                judge_confidence_threshold=z,
                escalation_scope="panel",
                escalation_switches_judge=switch,
            )
            out.append((f"judge confidence, panel{judge}", f"judge conf < {z:.2f}, panel{judge}", policy))
    for z in (0.2, 0.3, 0.4):
        for x in (0.45, 0.5):
            policy = policy_cls(
                escalate_on_low_agreement=True,
                agreement_threshold=x,
                escalate_on_low_judge_confidence=True,
                judge_confidence_threshold=z,
                escalation_scope="panel",
            )
            label = f"agreement < {x:.2f} or judge < {z:.2f}, panel"
            out.append(("agreement or judge confidence, panel", label, policy))
    for x in (0.55, 0.6, 0.65):
        for y in (0.6, 0.65):
            policy = policy_cls(
                escalate_on_low_agreement=True,
                agreement_threshold=x,
                escalate_on_low_confidence=True,
                confidence_measure="weighted",
                confidence_threshold=y,
                escalation_scope="panel",
                escalation_switches_judge=False,
            )
            label = f"agreement < {x:.2f} or wconf < {y:.2f}, panel, cheap judge"
            out.append(("agreement or weighted confidence, panel, cheap judge", label, policy))
    for x in (0.7, 0.8):
        policy = policy_cls(
            escalate_on_low_agreement=True,
            agreement_threshold=x,
            escalate_on_high_risk=True,
            escalation_scope="panel",
        )
        out.append(("agreement or high risk, panel", f"agreement < {x:.2f} or high risk, panel", policy))
    for y in [round(0.50 + 0.05 * i, 2) for i in range(9)]:
        policy = policy_cls(
            escalate_on_low_confidence=True,
            confidence_measure="mean",
            confidence_threshold=y,
            escalation_scope="panel",
            escalation_switches_judge=False,
        )
        out.append(
            ("mean confidence, panel, cheap judge", f"mean conf < {y:.2f}, panel, cheap judge", policy)
        )
    for x in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85):
        for z in (0.3, 0.35, 0.4, 0.45, 0.5):
            policy = policy_cls(
                escalate_on_low_agreement=True,
                agreement_threshold=x,
                escalate_on_low_judge_confidence=True,
                judge_confidence_threshold=z,
                escalation_needs_all_triggers=True,
                escalation_scope="panel",
                escalation_switches_judge=False,
            )
            label = f"agreement < {x:.2f} AND judge < {z:.2f}, panel, cheap judge"
            out.append(("agreement AND judge confidence, panel, cheap judge", label, policy))
    # dissenters with a higher low-confidence floor: also reruns the majority's unsure voices
    out += _combined_grid(
        policy_cls,
        "dissenters",
        floors=(0.7, 0.75, 0.8),
        agreements=(0.65, 0.7, 0.75, 0.8),
        judges=(0.35, 0.4, 0.45),
        family="agreement AND judge confidence, dissenters + floor, cheap judge",
    )
    # staged: the dissenters (and voices below the floor) first, the rest of the panel only when the
    # triggers still escalate on the merged panel
    out += _combined_grid(
        policy_cls,
        "staged",
        floors=(0.3, 0.5, 0.6),
        agreements=(0.7, 0.75, 0.8, 0.85),
        judges=(0.4, 0.45, 0.5),
        family="agreement AND judge confidence, staged, cheap judge",
    )
    return out


def _combined_grid(  # type: ignore[no-untyped-def]
    policy_cls,
    scope: str,
    *,
    floors: tuple[float, ...],
    agreements: tuple[float, ...],
    judges: tuple[float, ...],
    family: str,
) -> list[tuple[str, str, object]]:
    """The AND of low agreement and low judge confidence, swept over thresholds and floors, for a
    scope that reruns part of the panel (``low_confidence_floor`` also reruns the unsure voices)."""
    out = []
    for floor in floors:
        for x in agreements:
            for z in judges:
                policy = policy_cls(
                    escalate_on_low_agreement=True,
                    agreement_threshold=x,
                    escalate_on_low_judge_confidence=True,
                    judge_confidence_threshold=z,
                    escalation_needs_all_triggers=True,
                    escalation_scope=scope,
                    low_confidence_floor=floor,
                    escalation_switches_judge=False,
                )
                label = f"agreement < {x:.2f} AND judge < {z:.2f}, {scope} < {floor:.2f}, cheap judge"
                out.append((family, label, policy))
    return out


def _always(policy_cls, scope: str, switch: bool):  # type: ignore[no-untyped-def]
    """Every debate escalates (weighted confidence is always below 1.01) with ``scope``."""
    return policy_cls(
        escalate_on_low_confidence=True,
        confidence_measure="weighted",
        confidence_threshold=1.01,
        escalation_scope=scope,
        escalation_switches_judge=switch,
    )


#: Escalation modes whose oracle bound is computed: (label, scope, judge switch).
ORACLE_MODES = (
    ("whole panel, cheap judge", "panel", False),
    ("dissenters, cheap judge", "dissenters", False),
    ("judge only (powerful judge)", "none", True),
)
ANY_SUBSET = "any subset of analysts, cheap judge"
STAGED = "staged: dissenters, else the whole panel, cheap judge"


def _record(count: int) -> list:  # type: ignore[type-arg]
    """``count`` rules debates, recorded through the debate service (reused when already there)."""
    from debates.models import DebateSession, DebateStatus, Instrument
    from debates.services import debate_run_now

    have = list(DebateSession.objects.filter(status=DebateStatus.COMPLETED).order_by("id")[:count])
    symbols = list(Instrument.objects.order_by("symbol").values_list("symbol", flat=True))
    first = dt.date(2022, 6, 1)
    i = len(have)
    while len(have) < count:
        symbol, as_of = symbols[i % len(symbols)], first + dt.timedelta(days=(i // len(symbols)) * 3)
        session = debate_run_now(symbol=symbol, as_of=as_of)
        if session.status == DebateStatus.COMPLETED:
            have.append(session)
        i += 1
    return have


async def _decide(plan, contexts, prices):  # type: ignore[no-untyped-def]
    """Per debate: the decision (buy / sell / hold, or none), its cost, and the first round's answers
    (what a trigger can see); and how many debates escalated."""
    from debates.coordinator import ArenaCoordinator

    actions, costs, seen, escalated = [], [], [], 0
    for context in contexts:
        outcome = await ArenaCoordinator(plan, lookback=len(context.bars)).arun(context)
        decision = outcome.decision
        actions.append(decision.action.value if decision else "none")
        costs.append(sum((prices.of(r) for _n, r in outcome.results), Decimal(0)))
        seen.append(outcome.rounds[0].answers)
        escalated += outcome.escalated
    return actions, costs, seen, escalated


@dataclass(frozen=True)
class Bound:
    """The cheapest way to ``target`` equal decisions under some rule, or how close it gets."""

    mode: str
    cost: float  # relative to always-powerful
    equal: float
    escalated: float
    reached: bool


def oracle(mode, cheap, options, reference, reference_cost, target=0.95):  # type: ignore[no-untyped-def]
    """The cheapest any trigger could do: escalate exactly the debates whose cheap decision differs
    from always-powerful's and that an escalation fixes (``options[i]``: the (decision, cost) each
    escalation available to debate ``i`` gives), each with its cheapest fixing escalation, cheapest
    first, until ``target`` of the decisions are equal. Short of it: all fixable ones, and how far
    that gets."""
    cheap_actions, cheap_costs = cheap
    n, total = len(reference), sum(cheap_costs, Decimal(0))
    equal = sum(a == r for a, r in zip(cheap_actions, reference, strict=True))
    extras = []
    for i in range(n):
        fixes = [cost for action, cost in options.get(i, ()) if action == reference[i]]
        if cheap_actions[i] != reference[i] and fixes:
            extras.append(min(fixes) - cheap_costs[i])
    escalated = 0
    for extra in sorted(extras):
        if equal >= target * n:
            break
        total += extra
        equal += 1
        escalated += 1
    return Bound(mode, float(total / reference_cost), equal / n, escalated / n, equal >= target * n)


def _reference_odds(params: SimParams, samples: int = 4000) -> dict[tuple[str, bool, bool], dict[str, float]]:
    """P(always-powerful decides a | truth, hard, high risk), by sampling the simulated powerful panel
    and deciding with the rules judge (the simulated judges are the rules judge)."""
    from agents.models import ANALYST_ROLES
    from agents.providers.rules import judge
    from agents.schemas import AnalystOutput, AnalystView, RiskLevel, Stance

    odds = {}
    for truth in TRUTH:
        for hard in (False, True):
            for high_risk in (False, True):
                rng, counts = _rng("odds", truth, hard, high_risk), dict.fromkeys(TRUE_ACTION.values(), 0)
                for _ in range(samples):
                    views = []
                    for role in ANALYST_ROLES:
                        stance, confidence = sim_answer(rng, params, "powerful", truth, hard)
                        risk = RiskLevel.HIGH if high_risk and role == "risk_manager" else None
                        output = AnalystOutput.model_construct(
                            stance=Stance(stance), confidence=confidence, risk_level=risk
                        )
                        views.append(AnalystView.model_construct(role=role, output=output))
                    counts[judge(tuple(views), False).action.value] += 1
                odds[truth, hard, high_risk] = {a: c / samples for a, c in counts.items()}
    return odds


def bayes_bound(
    mode, params, seen, cheap, panel, reference, reference_cost, odds, *, confidences, target=0.95
):  # type: ignore[no-untyped-def]
    """The best any trigger on the first round's answers could do with whole-panel escalation, knowing
    the simulator's distributions exactly: escalate in order of the posterior probability that the
    cheap decision equals always-powerful's, lowest first. ``confidences=False`` sees stances only."""
    (cheap_actions, cheap_costs), (panel_actions, panel_costs) = cheap, panel
    scores = []
    for i, answers in enumerate(seen):
        high_risk = any(a.risk_level == "high" for a in answers.values())
        posterior = {}
        for truth, prior in TRUTH.items():
            for hard in (False, True):
                p = prior * (params.hard if hard else 1 - params.hard)
                for a in answers.values():
                    confidence = a.confidence if confidences else None
                    p *= sim_likelihood(params, "cheap", truth, hard, a.stance.value, confidence)
                posterior[truth, hard] = p
        z = sum(posterior.values()) or 1.0
        odds_equal = sum(
            p / z * odds[truth, hard, high_risk][cheap_actions[i]] for (truth, hard), p in posterior.items()
        )
        scores.append(odds_equal)
    n, total = len(reference), sum(cheap_costs, Decimal(0))
    equal = sum(a == r for a, r in zip(cheap_actions, reference, strict=True))
    escalated = 0
    for i in sorted(range(n), key=lambda i: scores[i]):
        if equal >= target * n:
            break
        total += panel_costs[i] - cheap_costs[i]
        equal += (panel_actions[i] == reference[i]) - (cheap_actions[i] == reference[i])
        escalated += 1
    return Bound(mode, float(total / reference_cost), equal / n, escalated / n, equal >= target * n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debates", type=int, default=400)
    parser.add_argument("--pair", choices=sorted(PAIRS), default="openai")
    parser.add_argument("--hard", type=float, default=SimParams.hard, help="Share of hard debates.")
    parser.add_argument(
        "--seed-db", default=f"sqlite:///{Path(tempfile.gettempdir()) / 'arena_frontier.sqlite3'}"
    )
    args = parser.parse_args()
    django_setup(args.seed_db)

    from agents.providers import register_provider
    from debates.replay import recorded_context

    params = SimParams(hard=args.hard)
    register_provider("sim", SimulatedAgents(params))
    prices = Prices(args.pair)
    started = time.perf_counter()
    sessions = _record(args.debates)
    contexts = [recorded_context(s, sorted(s.tool_calls.all(), key=lambda c: c.sequence)) for s in sessions]
    powerful, cheap_first, policy_cls = _plans(prices)

    agents = SimulatedAgents(params)
    truth = [TRUE_ACTION[agents.world(c.symbol, c.as_of)[0]] for c in contexts]

    def correct(actions: list[str]) -> float:
        return sum(a == t for a, t in zip(actions, truth, strict=True)) / len(truth)

    async def sweep():  # type: ignore[no-untyped-def]
        reference, reference_costs, _, _ = await _decide(powerful, contexts, prices)
        reference_cost = sum(reference_costs, Decimal(0))
        rows, cheap = [], None
        for family, label, policy in _settings(policy_cls):
            actions, costs, _, escalated = await _decide(cheap_first.replace(policy=policy), contexts, prices)
            cheap = cheap or (actions, costs)
            same = sum(a == b for a, b in zip(actions, reference, strict=True)) / len(reference)
            cost = float(sum(costs, Decimal(0)) / reference_cost)
            rows.append((family, label, cost, same, escalated / len(contexts), correct(actions)))
        bounds = await _bounds(cheap, reference, reference_cost)
        return reference_cost, correct(reference), rows, bounds

    async def _bounds(cheap, reference, reference_cost):  # type: ignore[no-untyped-def]
        bounds, panel, seen, by_scope = [], None, None, {}
        for mode, scope, switch in ORACLE_MODES:
            plan = cheap_first.replace(policy=_always(policy_cls, scope, switch))
            actions, costs, first_round, _ = await _decide(plan, contexts, prices)
            if scope == "panel":
                panel, seen = (actions, costs), first_round
            options = {i: [(a, c)] for i, (a, c) in enumerate(zip(actions, costs, strict=True))}
            by_scope[scope, switch] = options
            bounds.append(oracle(mode, cheap, options, reference, reference_cost))
        # Staged: per debate the dissenters' round alone, or the whole panel (what round 3 completes;
        # priced as a whole-panel escalation, i.e. without round 2's judge: a lower bound).
        dissenters, whole = by_scope["dissenters", False], by_scope["panel", False]
        staged = {i: dissenters[i] + whole[i] for i in dissenters}
        bounds.append(oracle(STAGED, cheap, staged, reference, reference_cost))
        # Any subset: a panel with escalation seats for exactly these roles reruns exactly these
        # (scope panel). Only debates the cheap round gets "wrong" can gain, so only they are run.
        wrong = [i for i, (a, r) in enumerate(zip(cheap[0], reference, strict=True)) if a != r]
        options: dict[int, list[tuple[str, Decimal]]] = {i: [] for i in wrong}
        strong = cheap_first.escalation
        always = _always(policy_cls, "panel", False)
        for size in range(1, len(strong) + 1):
            for roles in itertools.combinations(strong, size):
                plan = cheap_first.replace(policy=always, escalation={r: strong[r] for r in roles})
                actions, costs, _, _ = await _decide(plan, [contexts[i] for i in wrong], prices)
                for i, action, cost in zip(wrong, actions, costs, strict=True):
                    options[i].append((action, cost))
        bounds.append(oracle(ANY_SUBSET, cheap, options, reference, reference_cost))
        odds = _reference_odds(params)
        for confidences, mode in ((True, BAYES), (False, BAYES_STANCES)):
            bound = bayes_bound(
                mode, params, seen, cheap, panel, reference, reference_cost, odds, confidences=confidences
            )
            bounds.append(bound)
        return bounds

    reference_cost, reference_correct, rows, bounds = asyncio.run(sweep())
    if prices.unknown:
        print(f"WARNING: {prices.unknown} calls had no known price and count as free")
    elapsed = time.perf_counter() - started
    _report(args, params, prices, reference_cost, reference_correct, rows, elapsed, len(contexts))
    _report_bounds(bounds)
    OUT.mkdir(parents=True, exist_ok=True)
    svg = OUT / "escalation_frontier.svg"
    svg.write_text(_svg(rows, args, prices, bounds))
    print(f"chart: {os.path.relpath(svg, ROOT)}")


def _meets(cost: float, equal: float) -> bool:
    return cost <= TARGET_COST and equal >= TARGET_EQUAL


def _report(args, params, prices, reference_cost, reference_correct, rows, elapsed, n) -> None:  # type: ignore[no-untyped-def]
    cheap, strong = prices.models["cheap"][0], prices.models["powerful"][0]
    print(f"{n} recorded debates replayed per setting; cheap {cheap}, powerful {strong}")
    print("prices: genai-prices list prices per call (analyst 2,500 in / 400 out, judge 3,500 in / 300 out)")
    print(
        f"simulator: hard debates {params.hard:.0%}; accuracy easy/hard cheap {params.cheap}, "
        f"powerful {params.powerful}; {elapsed:.1f} s"
    )
    print(
        f"always-powerful panel: ${reference_cost:.4f} for {n} debates (${reference_cost / n:.5f} each), "
        f"{reference_correct:.1%} of decisions match the hidden truth"
    )
    print(f"{'setting':<70} {'cost vs powerful':>16} {'same decision':>14} {'escalated':>10} {'correct':>8}")
    for _family, label, cost, same, escalated, right in rows:
        mark = "  <- target" if _meets(cost, same) else ""
        print(f"{label:<70} {cost:>15.1%} {same:>14.1%} {escalated:>10.1%} {right:>8.1%}{mark}")
    print("\ncheapest setting per family with >= 95 % equal decisions:")
    good = [r for r in rows if r[3] >= TARGET_EQUAL]
    for family in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in good if r[0] == family]
        if mine:
            r = min(mine, key=lambda r: r[2])
            print(f"  {family:<64} {r[1]:<70} {r[2]:>6.1%} ({1 - r[2]:.0%} lower), {r[3]:.1%} equal")
        else:
            top = max((r for r in rows if r[0] == family), key=lambda r: r[3])
            print(f"  {family:<64} never reaches 95 % (at most {top[3]:.1%}, at {top[2]:.1%} of the cost)")
    if good:
        cheapest = min(good, key=lambda r: r[2])
        print(
            f"cheapest setting with >= 95 % equal decisions: {cheapest[1]}: {cheapest[2]:.1%} of the cost "
            f"({1 - cheapest[2]:.0%} lower), {cheapest[3]:.1%} equal, {cheapest[5]:.1%} correct"
        )
    hits = [r for r in rows if _meets(r[2], r[3])]
    if hits:
        cheapest = min(hits, key=lambda r: r[2])
        print(
            f"target met: {cheapest[1]} costs {cheapest[2]:.1%} of always-powerful "
            f"({1 - cheapest[2]:.0%} lower) with {cheapest[3]:.1%} equal decisions"
        )
    else:
        within = [r for r in rows if r[2] <= TARGET_COST]
        best = max(within, key=lambda r: r[3])
        print(
            f"target NOT met: the best setting within 80 % savings is {best[1]} at {best[3]:.1%} equal "
            f"decisions (cost {best[2]:.1%})"
        )


BAYES = "best possible trigger, whole panel (knows the simulator)"
BAYES_STANCES = "best possible trigger on stances only, whole panel"


def _report_bounds(bounds: list[Bound]) -> None:
    print(
        "\nbounds at >= 95 % equal decisions. Oracle (per escalation mode): escalate exactly the debates "
        "the powerful panel decides differently and the mode fixes, cheapest first - no trigger can pick "
        "better. Best possible trigger: the Bayes-optimal rule on the first round's answers, knowing the "
        "simulator's distributions (no real trigger can):"
    )
    for b in bounds:
        kind = "" if b.mode in (BAYES, BAYES_STANCES) else "oracle, "
        if b.reached:
            verdict = f"{b.cost:.1%} of the cost ({1 - b.cost:.0%} lower), {b.equal:.1%} equal"
        else:
            verdict = f"never reaches 95 %: at most {b.equal:.1%} equal (at {b.cost:.1%} of the cost)"
        print(f"  {kind + b.mode:<66} {verdict}, {b.escalated:.1%} escalated")
    print(_why(bounds))


def _why(bounds: list[Bound]) -> str:
    """One sentence on whether the target is reachable at all, from the bounds."""
    by_mode = {b.mode: b for b in bounds}
    panel, best = by_mode[ORACLE_MODES[0][0]], by_mode[BAYES]
    short = [b for b in bounds if not b.reached]
    within = [b.mode for b in bounds if b.reached and b.cost <= TARGET_COST]
    return (
        f"why: the target needs <= {TARGET_COST:.0%} of the cost at >= {TARGET_EQUAL:.0%} equal; the "
        f"whole-panel oracle needs {panel.cost:.1%} and the best possible trigger {best.cost:.1%}; "
        + "; ".join(f"{b.mode} never reaches {TARGET_EQUAL:.0%} (at most {b.equal:.1%})" for b in short)
        + f". Bounds within the target: {', '.join(within) or 'none'}."
    )


def _svg(rows, args, prices, bounds) -> str:  # type: ignore[no-untyped-def]
    """Hand-written SVG: cost relative to always-powerful (x) against equal decisions (y); the
    bounds are crosses, numbered in the legend."""
    width, height, left, bottom, top, right = 1100, 620, 70, 60, 40, 460
    plot_w, plot_h = width - left - right, height - top - bottom
    y_min = math.floor((min(min(r[3] for r in rows), *(b.equal for b in bounds)) - 0.02) * 20) / 20

    def x(v: float) -> float:
        return left + min(v, 1.2) / 1.2 * plot_w

    def y(v: float) -> float:
        return top + (1 - (v - y_min) / (1 - y_min)) * plot_h

    colours = [
        "#000000",
        "#d62728",
        "#2ca02c",
        "#9467bd",
        "#ff7f0e",
        "#1f77b4",
        "#8c564b",
        "#e377c2",
        "#17becf",
        "#bcbd22",
        "#7f7f7f",
        "#aec7e8",
        "#ff9896",
        "#98df8a",
        "#c5b0d5",
        "#393b79",
    ]
    families = list(dict.fromkeys(r[0] for r in rows))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<rect x="{x(0):.1f}" y="{y(1):.1f}" width="{x(0.2) - x(0):.1f}" height="{y(0.95) - y(1):.1f}" '
        'fill="#2ca02c" fill-opacity="0.12"/>',
        f'<text x="{x(0) + 4:.1f}" y="{y(0.95) - 4:.1f}" fill="#2ca02c">target</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="black"/>',
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 15}" text-anchor="middle">cost relative to '
        "always-powerful</text>",
        f'<text x="18" y="{top + plot_h / 2:.1f}" text-anchor="middle" transform="rotate(-90 18 '
        f'{top + plot_h / 2:.1f})">decisions equal to always-powerful</text>',
        f'<text x="{left}" y="22" font-size="14">Escalation frontier ({prices.models["cheap"][0]} → '
        f"{prices.models['powerful'][0]}; {args.debates} debates, simulated, {args.hard:.0%} hard)</text>",
    ]
    for tick in (0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2):
        tx, ty = x(tick), top + plot_h
        parts.append(f'<line x1="{tx:.1f}" y1="{ty}" x2="{tx:.1f}" y2="{ty + 5}" stroke="black"/>')
        parts.append(
            f'<text x="{x(tick):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{tick:.0%}</text>'
        )
    steps = 5
    for i in range(steps + 1):
        value = y_min + (1 - y_min) * i / steps
        parts.append(
            f'<line x1="{left - 5}" y1="{y(value):.1f}" x2="{left}" y2="{y(value):.1f}" stroke="black"/>'
        )
        parts.append(f'<text x="{left - 8}" y="{y(value) + 4:.1f}" text-anchor="end">{value:.0%}</text>')
    for index, family in enumerate(families):
        colour = colours[index % len(colours)]
        points = sorted((r[2], r[3]) for r in rows if r[0] == family)
        if len(points) > 1:
            path = " ".join(f"{x(c):.1f},{y(s):.1f}" for c, s in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        for c, s in points:
            parts.append(f'<circle cx="{x(c):.1f}" cy="{y(s):.1f}" r="3" fill="{colour}"/>')
        legend_y = top + 10 + index * 18
        parts.append(f'<circle cx="{width - right + 20}" cy="{legend_y}" r="4" fill="{colour}"/>')
        parts.append(f'<text x="{width - right + 30}" y="{legend_y + 4}">{family}</text>')
    for number, bound in enumerate(bounds, 1):
        bx, by = x(bound.cost), y(bound.equal)
        parts.append(
            f'<path d="M{bx - 5:.1f},{by - 5:.1f} L{bx + 5:.1f},{by + 5:.1f} M{bx - 5:.1f},{by + 5:.1f} '
            f'L{bx + 5:.1f},{by - 5:.1f}" stroke="#000" stroke-width="2"/>'
        )
        parts.append(f'<text x="{bx + 6:.1f}" y="{by - 6:.1f}" font-size="11">{number}</text>')
        legend_y = top + 10 + (len(families) + number) * 18
        kind = "" if bound.mode in (BAYES, BAYES_STANCES) else "oracle: "
        parts.append(f'<text x="{width - right + 14}" y="{legend_y + 4}">X{number} {kind}{bound.mode}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    main()
