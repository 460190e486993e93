"""The hub's pages, included at ``hub/``; each path works with and without a trailing slash."""

from django.urls import re_path

from arena_project.hub import views

app_name = "hub"

urlpatterns = [
    re_path(r"^$", views.overview, name="overview"),
    re_path(r"^active/?$", views.active_fragment, name="active-fragment"),
    re_path(r"^debates/(?P<session_id>[0-9]{1,18})/?$", views.debate_detail, name="debate"),
    re_path(r"^debates/(?P<session_id>[0-9]{1,18})/live/?$", views.debate_fragment, name="debate-fragment"),
    re_path(r"^strategies/?$", views.strategies, name="strategies"),
    re_path(r"^tools/?$", views.tools, name="tools"),
    re_path(r"^leaderboard/?$", views.leaderboard, name="leaderboard"),
    re_path(r"^competitions/?$", views.competitions, name="competitions"),
]
