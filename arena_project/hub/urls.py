"""The hub's pages, included at ``hub/``.

Canonical paths end in a slash (that is what ``{% url %}`` gives); each also answers without it,
directly rather than through a redirect, so a form posted to either works.
"""

from collections.abc import Callable
from typing import Any

from django.urls import URLPattern, re_path

from arena_project.hub import competition_views, views

app_name = "hub"

DEBATE = r"debates/(?P<session_id>[0-9]{1,18})"
RUN = r"competitions/(?P<run_id>[0-9]{1,18})"


def _both(pattern: str, view: Callable[..., Any], name: str) -> list[URLPattern]:
    """``pattern/`` under ``name``, and ``pattern`` without the slash, unnamed."""
    return [re_path(rf"^{pattern}/$", view, name=name), re_path(rf"^{pattern}$", view)]


urlpatterns = [
    re_path(r"^$", views.overview, name="overview"),
    *_both("active", views.active_fragment, "active-fragment"),
    *_both(DEBATE, views.debate_detail, "debate"),
    *_both(DEBATE + "/live", views.debate_fragment, "debate-fragment"),
    *_both("strategies", views.strategies, "strategies"),
    *_both("tools", views.tools, "tools"),
    *_both("leaderboard", views.leaderboard, "leaderboard"),
    *_both("competitions", competition_views.competitions, "competitions"),
    *_both(RUN, competition_views.competition_detail, "competition"),
    *_both(RUN + "/live", competition_views.competition_fragment, "competition-fragment"),
]
