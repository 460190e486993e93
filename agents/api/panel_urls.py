"""Staff panel routes, included under ``api/admin/arena/``; each path works with and without a slash."""

from django.urls import re_path

from agents.api.panel_views import PanelDetailApi, PanelListCreateApi

urlpatterns = [
    re_path(r"^panels/?$", PanelListCreateApi.as_view(), name="admin-panels"),
    re_path(r"^panels/(?P<panel_id>[0-9]{1,18})/?$", PanelDetailApi.as_view(), name="admin-panel-detail"),
]
