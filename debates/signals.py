"""Signals other apps subscribe to, so debates never imports the apps that build on it.

``consensus_created`` is sent after the transaction that stored a consensus commits; the outcomes
app turns a buy or sell consensus into an order intent from it.

``consensus_batch_created`` is its batched twin, sent once after a transaction that stored several
consensus rows at once (a backtest's day); receivers must treat it exactly like one
``consensus_created`` per consensus, in the order given.
"""

from django.dispatch import Signal

# kwargs: session_id (int), consensus_id (int), consensus (the stored DebateConsensus, its session loaded)
consensus_created = Signal()

# kwargs: consensus_ids (list[int], in decision order), consensuses (the stored rows, sessions loaded)
consensus_batch_created = Signal()
