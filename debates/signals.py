"""Signals other apps subscribe to, so debates never imports the apps that build on it.

``consensus_created`` is sent after the transaction that stored a consensus commits; the outcomes
app queues the decision's trade (a buy or sell becomes an order intent) from it. Receivers run inside
the debate's call, so they should hand slow work to a task.

``consensus_batch_created`` is its batched twin, sent once after a transaction that stored several
consensus rows at once (a backtest's day); receivers must come to the same result as one
``consensus_created`` per consensus, in the order given, and be done when they return (the sender
reads what they wrote).
"""

from django.dispatch import Signal

# kwargs: session_id (int), consensus_id (int), consensus (the stored DebateConsensus, its session loaded)
consensus_created = Signal()

# kwargs: consensus_ids (list[int], in decision order), consensuses (the stored rows, sessions loaded)
consensus_batch_created = Signal()
