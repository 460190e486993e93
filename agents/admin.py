from django.contrib import admin

from agents.models import AgentProfile, Panel, PanelSeat


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "role",
        "provider",
        "model",
        "tier",
        "mode",
        "budget_usd",
        "budget_period",
        "active",
    ]
    list_filter = ["role", "provider", "tier", "mode", "active"]
    search_fields = ["name", "model", "description"]
    ordering = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "role", "description", "active"]}),
        ("Model", {"fields": ["provider", "model", "tier", "mode", "params", "base_url", "api_key_env"]}),
        (
            "Budget and prices",
            {"fields": ["budget_usd", "budget_period", "price_input_per_mtok", "price_output_per_mtok"]},
        ),
    ]


class PanelSeatInline(admin.TabularInline):
    model = PanelSeat
    extra = 0
    autocomplete_fields = ["profile"]


@admin.register(Panel)
class PanelAdmin(admin.ModelAdmin):
    list_display = ["name", "is_default", "quorum", "call_timeout_s", "deadline_s", "updated_at"]
    list_filter = ["is_default"]
    search_fields = ["name", "description"]
    inlines = [PanelSeatInline]
