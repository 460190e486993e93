"""Outcome routes (included under ``api/``); each path works with and without a trailing slash."""

from django.urls import re_path

from outcomes.api.views import OutcomeDetailApi, OutcomeListApi

urlpatterns = [
    re_path(r"^outcomes/?$", OutcomeListApi.as_view(), name="outcomes"),
    re_path(r"^outcomes/(?P<outcome_id>[0-9]{1,18})/?$", OutcomeDetailApi.as_view(), name="outcome-detail"),
]
