"""``PanelPlanVersion``: one number the database changes on every write to what panel plans are built
from (seats, profiles, fallback links), so that processes may keep the plans they build.

It must change whoever writes those tables (the admin, the API, ``QuerySet.update()``, a shell) and
never come back to a value it had (a rolled-back write would otherwise leave a kept plan that looks
current). Hence triggers that upsert the one row, so it is back after a flush too:

- PostgreSQL: statement-level triggers on INSERT, UPDATE, DELETE and TRUNCATE of the three tables,
  numbered from a sequence (``nextval`` is never rolled back).
- SQLite: row-level triggers, numbered by ``random()`` (63 bits).

Like ``debates.Instrument.bars_version`` (debates/migrations/0006).
"""

from django.db import migrations, models

from arena_project.vendor_sql import vendor_sql

SOURCES = ("agents_agentprofile", "agents_panelseat", "agents_profilefallback")
EVENTS = ("insert", "update", "delete")
PG_UPSERT = (
    "INSERT INTO agents_panelplanversion (id, version) VALUES (1, nextval('agents_panel_plan_version_seq')) "
    "ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version"
)
SQLITE_UPSERT = (
    "INSERT INTO agents_panelplanversion (id, version) VALUES (1, random() & 9223372036854775807) "
    "ON CONFLICT (id) DO UPDATE SET version = excluded.version"
)

PG_FORWARD = [
    "CREATE SEQUENCE agents_panel_plan_version_seq",
    f"""CREATE FUNCTION agents_panel_plan_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {PG_UPSERT};
    RETURN NULL;
END;
$$""",
    *(
        f"CREATE TRIGGER {table}_plan_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION agents_panel_plan_version_bump()"
        for table in SOURCES
    ),
    PG_UPSERT,
]
PG_BACKWARD = [
    *(f"DROP TRIGGER {table}_plan_version ON {table}" for table in SOURCES),
    "DROP FUNCTION agents_panel_plan_version_bump()",
    "DROP SEQUENCE agents_panel_plan_version_seq",
]
SQLITE_FORWARD = [
    *(
        f"CREATE TRIGGER {table}_plan_version_{event} AFTER {event.upper()} ON {table} "
        f"BEGIN {SQLITE_UPSERT}; END"
        for table in SOURCES
        for event in EVENTS
    ),
    SQLITE_UPSERT,
]
SQLITE_BACKWARD = [f"DROP TRIGGER {table}_plan_version_{event}" for table in SOURCES for event in EVENTS]


class Migration(migrations.Migration):
    dependencies = [("agents", "0005_panel_staged_scope")]

    operations = [
        migrations.CreateModel(
            name="PanelPlanVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("version", models.BigIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("id", 1)), name="panelplanversion_one_row")
                ],
            },
        ),
        vendor_sql(
            "agents.PanelPlanVersion",
            forward={"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD},
            backward={"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD},
        ),
    ]
