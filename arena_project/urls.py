"""Root URLs: the admin, the API (and its schema and docs), and the apps' routes."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

urlpatterns = [
    path("", RedirectView.as_view(url="/hub/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include("debates.api.urls")),
    path("api/admin/arena/", include("agents.api.urls")),
    path("api/admin/arena/", include("agents.api.panel_urls")),
    path("api/", include("outcomes.api.urls")),
    path("api/admin/arena/", include("arena_project.hub.api_urls")),
    path("hub/", include("arena_project.hub.urls")),
    path("api/admin/arena/", include("competition.api.leaderboard_urls")),
    path("api/competition/", include("competition.api.urls")),
]

handler404 = "arena_project.errors.page_not_found"
