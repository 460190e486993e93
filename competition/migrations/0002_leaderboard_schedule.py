"""The django-q2 schedule that keeps the leaderboard's daily rollup fresh (created once, idempotently)."""

from django.conf import settings
from django.db import migrations

NAME = "competition-leaderboard-rollup"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={
            "func": "competition.tasks.leaderboard_rollup_refresh_task",
            "schedule_type": "I",  # every `minutes`
            "minutes": settings.ARENA_LEADERBOARD_REFRESH_MINUTES,
            "repeats": -1,
        },
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("competition", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
