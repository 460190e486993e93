"""The hub's JSON twins, included at ``api/admin/arena/`` (other apps add their own modules there)."""

from django.urls import re_path

from arena_project.hub.api import CompetitionProgressApi, OverviewApi, RunDetailApi, RunListApi

urlpatterns = [
    re_path(r"^overview/?$", OverviewApi.as_view(), name="admin-arena-overview"),
    re_path(r"^runs/?$", RunListApi.as_view(), name="admin-arena-runs"),
    re_path(r"^runs/(?P<session_id>[0-9]{1,18})/?$", RunDetailApi.as_view(), name="admin-arena-run"),
    re_path(
        r"^competitions/(?P<run_id>[0-9]{1,18})/?$",
        CompetitionProgressApi.as_view(),
        name="admin-arena-competition",
    ),
]
