"""Outcome routes (included under ``api/``); each path works with and without a trailing slash."""

from django.urls import re_path

from outcomes.api.views import OutcomeDetailApi, OutcomeListApi

urlpatterns = [
    re_path(r"^outcomes/?$", OutcomeListApi.as_view(), name="outcomes"),
    # Any segment reaches the view, so a malformed id is the API's JSON 404, not Django's HTML one.
    re_path(r"^outcomes/(?P<outcome_id>[^/]+)/?$", OutcomeDetailApi.as_view(), name="outcome-detail"),
]
