"""Debate and market routes; each path works with and without a trailing slash."""

from django.urls import re_path

from debates.api.views import (
    BarListApi,
    DebateSessionCancelApi,
    DebateSessionDetailApi,
    DebateSessionListCreateApi,
    InstrumentListApi,
)

urlpatterns = [
    re_path(r"^debate/sessions/?$", DebateSessionListCreateApi.as_view(), name="debate-sessions"),
    re_path(
        r"^debate/sessions/(?P<session_id>[0-9]{1,18})/?$",
        DebateSessionDetailApi.as_view(),
        name="debate-session-detail",
    ),
    re_path(
        r"^debate/sessions/(?P<session_id>[0-9]{1,18})/cancel/?$",
        DebateSessionCancelApi.as_view(),
        name="debate-session-cancel",
    ),
    re_path(r"^market/symbols/?$", InstrumentListApi.as_view(), name="market-symbols"),
    re_path(
        r"^market/symbols/(?P<symbol>[A-Za-z][A-Za-z0-9.\-]{0,15})/bars/?$",
        BarListApi.as_view(),
        name="market-symbol-bars",
    ),
]
