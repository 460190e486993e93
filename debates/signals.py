"""Signals other apps subscribe to, so debates never imports the apps that build on it.

``consensus_created`` is sent after the transaction that stored a consensus commits; the outcomes
app turns a buy or sell consensus into an order intent from it.
"""

from django.dispatch import Signal

# kwargs: session_id (int), consensus_id (int), consensus (the stored DebateConsensus, its session loaded)
consensus_created = Signal()
