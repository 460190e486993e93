"""Staff routes of the agents app, mounted under /api/admin/arena/; with or without a trailing slash."""

from django.urls import re_path

from agents.api.views import ProfileDetailApi, ProfileListCreateApi

urlpatterns = [
    re_path(r"^profiles/?$", ProfileListCreateApi.as_view(), name="arena-profiles"),
    re_path(
        r"^profiles/(?P<profile_id>[0-9]{1,18})/?$", ProfileDetailApi.as_view(), name="arena-profile-detail"
    ),
]
