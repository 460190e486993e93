"""django-q2 tasks of the debates app. Delivery is at-least-once: each task claims its work first."""

from __future__ import annotations

from debates.services import debate_session_claim, debate_session_run


def debate_run(session_id: int) -> str:
    """Run a queued debate; a second delivery finds it claimed (or finished) and does nothing."""
    if not debate_session_claim(session_id=session_id):
        return "skipped: already claimed or finished"
    session = debate_session_run(session_id=session_id)
    return session.status
