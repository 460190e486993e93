"""The django-q2 schedule that syncs open orders and settles outcomes (created once, idempotently)."""

from django.db import migrations

NAME = "outcomes-update"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={
            "func": "outcomes.tasks.outcomes_update_task",
            "schedule_type": "I",  # every `minutes`
            "minutes": 10,
            "repeats": -1,
        },
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("outcomes", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
