"""``Instrument.bars_version``: a number the database changes on every write to an instrument's bars.

Processes keep the bar histories they read between debates (debates/market/history.py) and compare
this number before they use one, so it must change whoever writes the bars - ``import_bars``, the
Alpaca cache, a shell, raw SQL - and must never come back to a value it had (a rolled-back write
would otherwise leave a cached history that looks current). Hence triggers, not code in our write
paths, and values that are never reused:

- PostgreSQL: statement-level triggers on INSERT, UPDATE and DELETE (one UPDATE of the instruments a
  statement touched, through its transition tables; their rows locked in id order, so two imports
  of several symbols cannot deadlock on them) and TRUNCATE (every instrument), numbered from a
  sequence (``nextval`` is never rolled back).
- SQLite: row-level triggers (SQLite has no other kind), numbered by ``random()`` (63 bits).
"""

from django.db import migrations, models

from arena_project.vendor_sql import vendor_sql

PG_BUMP = """
CREATE FUNCTION debates_bars_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE debates_instrument SET bars_version = nextval('debates_bars_version_seq');
    ELSIF TG_OP = 'INSERT' THEN
        UPDATE debates_instrument SET bars_version = nextval('debates_bars_version_seq')
        WHERE id IN (SELECT id FROM debates_instrument WHERE id IN (SELECT instrument_id FROM new_bars)
                     ORDER BY id FOR NO KEY UPDATE);
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE debates_instrument SET bars_version = nextval('debates_bars_version_seq')
        WHERE id IN (SELECT id FROM debates_instrument WHERE id IN (SELECT instrument_id FROM old_bars)
                     ORDER BY id FOR NO KEY UPDATE);
    ELSE
        UPDATE debates_instrument SET bars_version = nextval('debates_bars_version_seq')
        WHERE id IN (SELECT id FROM debates_instrument
                     WHERE id IN (SELECT instrument_id FROM new_bars UNION SELECT instrument_id FROM old_bars)
                     ORDER BY id FOR NO KEY UPDATE);
    END IF;
    RETURN NULL;
END;
$$"""

PG_FORWARD = [
    "CREATE SEQUENCE debates_bars_version_seq",
    PG_BUMP,
    """CREATE TRIGGER debates_bar_version_insert AFTER INSERT ON debates_bar
    REFERENCING NEW TABLE AS new_bars FOR EACH STATEMENT EXECUTE FUNCTION debates_bars_version_bump()""",
    """CREATE TRIGGER debates_bar_version_update AFTER UPDATE ON debates_bar
    REFERENCING OLD TABLE AS old_bars NEW TABLE AS new_bars
    FOR EACH STATEMENT EXECUTE FUNCTION debates_bars_version_bump()""",
    """CREATE TRIGGER debates_bar_version_delete AFTER DELETE ON debates_bar
    REFERENCING OLD TABLE AS old_bars FOR EACH STATEMENT EXECUTE FUNCTION debates_bars_version_bump()""",
    """CREATE TRIGGER debates_bar_version_truncate AFTER TRUNCATE ON debates_bar
    FOR EACH STATEMENT EXECUTE FUNCTION debates_bars_version_bump()""",
    "UPDATE debates_instrument SET bars_version = nextval('debates_bars_version_seq')",
]
PG_BACKWARD = [
    *(
        f"DROP TRIGGER debates_bar_version_{event} ON debates_bar"
        for event in ("truncate", "delete", "update", "insert")
    ),
    "DROP FUNCTION debates_bars_version_bump()",
    "DROP SEQUENCE debates_bars_version_seq",
]

SQLITE_NEW_VERSION = "(random() & 9223372036854775807)"
SQLITE_FORWARD = [
    f"""CREATE TRIGGER debates_bar_version_insert AFTER INSERT ON debates_bar BEGIN
        UPDATE debates_instrument SET bars_version = {SQLITE_NEW_VERSION} WHERE id = NEW.instrument_id; END""",
    f"""CREATE TRIGGER debates_bar_version_update AFTER UPDATE ON debates_bar BEGIN
        UPDATE debates_instrument SET bars_version = {SQLITE_NEW_VERSION}
        WHERE id IN (OLD.instrument_id, NEW.instrument_id); END""",
    f"""CREATE TRIGGER debates_bar_version_delete AFTER DELETE ON debates_bar BEGIN
        UPDATE debates_instrument SET bars_version = {SQLITE_NEW_VERSION} WHERE id = OLD.instrument_id; END""",
    f"UPDATE debates_instrument SET bars_version = {SQLITE_NEW_VERSION}",
]
SQLITE_BACKWARD = [f"DROP TRIGGER debates_bar_version_{event}" for event in ("delete", "update", "insert")]


class Migration(migrations.Migration):
    dependencies = [("debates", "0005_round_three")]

    operations = [
        migrations.AddField(
            model_name="instrument",
            name="bars_version",
            field=models.BigIntegerField(
                default=0,
                editable=False,
                help_text="Changed by the database on every write to this instrument's bars, never to a value "
                "it had before: processes that keep bar histories (debates/market/history.py) compare it.",
            ),
        ),
        vendor_sql(
            "debates.Instrument.bars_version",
            forward={"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD},
            backward={"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD},
        ),
    ]
