"""Staff routes of the agents app, mounted under /api/admin/arena/; with or without a trailing slash."""

from django.urls import re_path

from agents.api.views import ProfileDetailApi, ProfileListCreateApi

urlpatterns = [
    re_path(r"^profiles/?$", ProfileListCreateApi.as_view(), name="arena-profiles"),
    # Any segment reaches the view, so a malformed id gets the API's JSON 404, not Django's HTML page.
    re_path(r"^profiles/(?P<profile_id>[^/]+)/?$", ProfileDetailApi.as_view(), name="arena-profile-detail"),
]
