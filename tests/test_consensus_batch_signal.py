"""The batched decision signal opens trades exactly like one consensus_created per decision."""

from __future__ import annotations

import pytest

from agents.models import Panel
from debates.models import DebateConsensus
from debates.services import debate_run_now
from debates.signals import consensus_batch_created
from outcomes.models import Outcome

pytestmark = pytest.mark.django_db(transaction=True)  # the signals are sent on commit


def test_batch_signal_opens_each_decision_once(arena: Panel) -> None:
    sessions = [debate_run_now(symbol=s) for s in ("ACME", "BOLT", "CYAN")]
    consensus_ids = list(
        DebateConsensus.objects.filter(session__in=sessions).order_by("id").values_list("id", flat=True)
    )
    before = {o.consensus_id: o.pk for o in Outcome.objects.filter(consensus_id__in=consensus_ids)}
    assert set(before) == set(consensus_ids)  # the single signal already opened them
    Outcome.objects.filter(consensus_id__in=consensus_ids[1:]).delete()
    consensus_batch_created.send(sender=DebateConsensus, consensus_ids=consensus_ids, consensuses=None)
    after = {o.consensus_id: o.pk for o in Outcome.objects.filter(consensus_id__in=consensus_ids)}
    assert set(after) == set(consensus_ids)
    assert after[consensus_ids[0]] == before[consensus_ids[0]]  # idempotent: the existing one is kept
