"""The staff leaderboard, mounted under /api/admin/arena/ (other apps add their own staff routes there)."""

from django.urls import re_path

from .views import LeaderboardApi

urlpatterns = [re_path(r"^leaderboard/?$", LeaderboardApi.as_view(), name="arena-leaderboard")]
