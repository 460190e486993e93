from django.apps import AppConfig


class HubConfig(AppConfig):
    """Registered so its template tags load; the hub has no models."""

    name = "arena_project.hub"
    label = "hub"
    verbose_name = "Arena hub"
