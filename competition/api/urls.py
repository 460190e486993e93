"""Competition routes, mounted under /api/competition/; each path works with and without a trailing slash."""

from django.urls import re_path

from .views import (
    CompetitionRunCancelApi,
    CompetitionRunDetailApi,
    CompetitionRunListCreateApi,
    TraderProfileDetailApi,
    TraderProfileListCreateApi,
)

urlpatterns = [
    re_path(r"^runs/?$", CompetitionRunListCreateApi.as_view(), name="competition-runs"),
    re_path(
        r"^runs/(?P<run_id>[0-9]{1,18})/?$", CompetitionRunDetailApi.as_view(), name="competition-run-detail"
    ),
    re_path(
        r"^runs/(?P<run_id>[0-9]{1,18})/cancel/?$",
        CompetitionRunCancelApi.as_view(),
        name="competition-run-cancel",
    ),
    re_path(r"^traders/?$", TraderProfileListCreateApi.as_view(), name="competition-traders"),
    re_path(
        r"^traders/(?P<trader_id>[0-9]{1,18})/?$",
        TraderProfileDetailApi.as_view(),
        name="competition-trader-detail",
    ),
]
