"""django-q2 tasks of the debates app. Delivery is at-least-once: each task claims its work first."""

from __future__ import annotations

from debates.services import debate_session_claim, debate_session_run


def debate_run(session_id: int) -> str:
    """Run a queued debate; a second delivery finds it claimed (or finished) and does nothing."""
    if not debate_session_claim(session_id=session_id):
        return "skipped: already claimed or finished"
    session = debate_session_run(session_id=session_id)
    return session.status


def debate_run_batch(session_ids: list[int]) -> dict[str, str]:
    """Run several queued debates concurrently in this worker (one event loop, one thread).

    Each session is claimed on its own, so a redelivery, or an overlapping batch, runs none twice.
    """
    from debates.services import debate_sessions_run

    ran = debate_sessions_run(session_ids=session_ids)
    done = {str(s.pk): s.status for s in ran}
    return {str(i): done.get(str(i), "skipped: already claimed or finished") for i in session_ids}
