"""Multi-row INSERTs and UPDATEs as one plain statement on PostgreSQL, built with little Python.

On PostgreSQL, Django 5.2 inserts several rows with ``INSERT ... SELECT * FROM UNNEST(arrays)``. That
spares the server planning many placeholders, but psycopg then builds a PostgreSQL array literal per
column in Python, escaping every quote and backslash of every text and JSON value one regex match at
a time. With server-side binding (our setting) a ``VALUES (...), (...)`` list sends each value as its
own parameter, unescaped. Measured on one debate's rows (6 messages, 4 tool calls with the bar
history): messages 5.1 -> 2.3 ms, tool calls 3.9 -> 2.3 ms. Narrow numeric rows (bars) keep UNNEST.

``bulk_insert`` writes that statement itself rather than through Django's insert compiler, which
resolves every value on its own (expression check, ``pre_save``, placeholder, parameter list): on a
year's backtest 1.7 million values, 15.8 s of an 86 s profile. Here the statement's text is built
once per (model, row count), the columns' converters are looked up once per model, and each value
costs one converter call: a shortcut for the plain values whose conversion is known, else the field's
``get_db_prep_save``, which is what Django calls too.

``bulk_update_rows`` is the same idea for updates: Django's ``bulk_update`` writes one
``CASE WHEN pk = ... THEN ...`` per field and row, and resolving those expressions costs more Python
than the rest of a backtest's day of writes; ``UPDATE ... FROM (VALUES ...)`` sends each value once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from operator import attrgetter
from typing import Any, TypeVar, cast

from django.core.validators import EMPTY_VALUES
from django.db import connections, models, router, transaction
from django.db.models import AutoField, DateField, DateTimeField, Field, Model, TimeField
from django.db.models.fields import NOT_PROVIDED

from arena_project.pgtuning import MAX_CACHED_STATEMENT_PARAMS

M = TypeVar("M", bound=Model)
Converter = Callable[[Any, Any], Any]  # (value, connection) -> the parameter sent

# Statements are split to stay under psycopg's cache limits (arena_project/pgtuning.py), which are
# also far under PostgreSQL's own limit of 65,535 parameters a statement.
MAX_PARAMS = MAX_CACHED_STATEMENT_PARAMS


def bulk_insert(model: type[M], objs: Iterable[M]) -> list[M]:
    """``bulk_create(objs)`` as one ``INSERT ... VALUES ... RETURNING pk`` on PostgreSQL (split under
    :data:`MAX_PARAMS` parameters a statement, in one transaction).

    Same contract as ``bulk_create`` without options, for plain field values (an expression as a
    value is refused by the driver): ``auto_now``/``auto_now_add`` fields are set on each object as
    ``pre_save`` sets them, an unsaved related object raises ``ValueError``, the primary keys come
    back onto the objects, which are then marked saved (``_state``). All rows or none are written.
    Other databases, a single row, objects with their primary key set and models this path does not
    cover (:func:`_insert_plan`) use ``bulk_create`` itself.
    """
    rows = list(objs)
    alias = router.db_for_write(model)
    connection = connections[alias]
    plan = _insert_plan(model) if len(rows) > 1 and connection.vendor == "postgresql" else None
    if plan is None or any(plan.pk_of(obj) is not None for obj in rows):
        return model._default_manager.bulk_create(rows)
    plan.check_related(rows)
    per_statement = max(1, MAX_PARAMS // len(plan.preps))
    pks: list[Any] = []
    with transaction.atomic(using=alias, savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(_insert_sql(model, len(chunk)), plan.params(chunk, connection))
            pks.extend(pk for (pk,) in cursor.fetchall())
    for obj, pk in zip(rows, pks, strict=True):  # only once every statement has succeeded
        setattr(obj, plan.pk_attname, pk)
        obj._state.adding = False
        obj._state.db = alias
    return rows


@dataclass(frozen=True)
class _InsertPlan:
    """What inserting a model's rows needs, worked out once per model."""

    head: str  # INSERT INTO "table" ("a", "b", ...)
    row: str  # (%s, %s, ...)
    returning: str  # RETURNING "table"."id"
    pk_attname: str
    values_of: Callable[[Model], tuple[Any, ...]]  # the insert's attributes of an object, in order
    preps: tuple[Converter, ...]  # each column's get_db_prep_save, or a shortcut to its result
    auto_times: tuple[Field[Any, Any], ...]  # auto_now / auto_now_add fields: pre_save sets them
    relations: tuple[tuple[str, str, str], ...]  # foreign keys: cache name, attname, target's attname

    def pk_of(self, obj: Model) -> Any:
        return getattr(obj, self.pk_attname)

    def check_related(self, objs: Sequence[Model]) -> None:
        """Refuse an unsaved related object, take the pk of one saved since it was assigned: what
        ``bulk_create`` does to every object before it writes anything."""
        for obj in objs:
            cache = obj._state.fields_cache
            if cache and any(self._needs_preparing(obj, cache, relation) for relation in self.relations):
                obj._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]

    @staticmethod
    def _needs_preparing(obj: Model, cache: dict[str, Any], relation: tuple[str, str, str]) -> bool:
        """Whether Django's check would do anything for this relation: an assigned related object
        that is unsaved, saved since, or no longer the one the key holds. Else it changes nothing."""
        cache_name, attname, target_attname = relation
        related = cache.get(cache_name)
        if related is None:
            return False
        key = getattr(obj, attname)
        return related.pk is None or key in EMPTY_VALUES or getattr(related, target_attname) != key

    def params(self, objs: Sequence[Model], connection: Any) -> list[Any]:
        """The statement's parameters, row after row, as ``bulk_create`` prepares and converts them."""
        params: list[Any] = []
        extend, preps, values_of = params.extend, self.preps, self.values_of
        for obj in objs:
            for field in self.auto_times:
                field.pre_save(obj, True)
            extend([prep(value, connection) for prep, value in zip(preps, values_of(obj), strict=True)])
        return params


# pre_save of these classes only reads the attribute, or sets it to now for auto_now(_add).
_PLAIN_PRE_SAVE = {Field.pre_save, DateField.pre_save, DateTimeField.pre_save, TimeField.pre_save}


@cache
def _insert_plan(model: type[Model]) -> _InsertPlan | None:
    """The model's insert plan, or None where ``bulk_create`` does more than this path: multi-table
    inheritance, a primary key that is not an auto field or has a default, database defaults,
    columns returned besides the primary key, fields with their own ``pre_save``."""
    meta = model._meta
    pk = meta.pk
    fields = [f for f in meta.concrete_fields if not f.generated and not isinstance(f, AutoField)]
    if (
        meta.all_parents
        or not isinstance(pk, AutoField)
        or pk.has_default()
        or list(meta.db_returning_fields) != [pk]
        or any(f.db_default is not NOT_PROVIDED for f in fields)
        or any(type(f).pre_save not in _PLAIN_PRE_SAVE for f in fields)
    ):
        return None
    qn = connections[router.db_for_write(model)].ops.quote_name
    table = qn(meta.db_table)
    return _InsertPlan(
        head=f"INSERT INTO {table} ({', '.join(qn(str(f.column)) for f in fields)})",
        row="(" + ", ".join(["%s"] * len(fields)) + ")",
        returning=f"RETURNING {table}.{qn(str(pk.column))}",
        pk_attname=pk.attname,
        values_of=_getter([f.attname for f in fields]),
        preps=tuple(_converter(f) for f in fields),
        auto_times=tuple(f for f in fields if _sets_now(f)),
        relations=tuple((f.cache_name, f.attname, f.target_field.attname) for f in fields if f.is_relation),
    )


# Field classes (exactly these: a subclass may convert differently) whose get_db_prep_save returns
# None and values of these types unchanged, on PostgreSQL (read in Django 5.2's fields and backend;
# tests/test_bulk.py compares every shortcut with get_db_prep_save).
_UNCHANGED: dict[type[Field[Any, Any]], tuple[type, ...]] = {
    models.CharField: (str,),
    models.TextField: (str,),
    models.BooleanField: (bool,),
    models.FloatField: (float,),
    models.DateField: (dt.date,),
}
_INTEGERS = {
    models.IntegerField,
    models.SmallIntegerField,
    models.BigIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
}
_AUTO_KEYS = {models.AutoField, models.BigAutoField, models.SmallAutoField}


def _converter(field: Field[Any, Any]) -> Converter:
    """``field.get_db_prep_save``, with a shortcut for the common values whose conversion is known:
    Django's version goes through four or five method calls per value to return it (or wrap it)."""
    slow = field.get_db_prep_save
    kind = type(field)
    if kind in _UNCHANGED:
        types = _UNCHANGED[kind]
        return lambda value, connection: (
            value if value is None or type(value) in types else slow(value, connection)
        )
    if kind is models.DecimalField:  # NaN and infinities are refused by get_db_prep_save
        return lambda value, connection: (
            value
            if value is None or (type(value) is Decimal and value.is_finite())
            else slow(value, connection)
        )
    if kind is models.DateTimeField:  # a naive datetime gets a warning and the default zone
        return lambda value, connection: (
            value
            if value is None or (type(value) is dt.datetime and value.utcoffset() is not None)
            else slow(value, connection)
        )
    if kind in _INTEGERS:  # psycopg gets the column's integer type (Int2, Int4, Int8)
        internal = field.get_internal_type()
        return lambda value, connection: (
            connection.ops.adapt_integerfield_value(value, internal)
            if type(value) is int
            else slow(value, connection)
        )
    if (
        kind in (models.ForeignKey, models.OneToOneField)
        and type(getattr(field, "target_field", None)) in _AUTO_KEYS
    ):
        return lambda value, connection: (
            connection.ops.validate_autopk_value(value) if type(value) is int else slow(value, connection)
        )
    if kind is models.JSONField:
        encoder = cast("models.JSONField[Any]", field).encoder
        return lambda value, connection: (
            connection.ops.adapt_json_value(value, encoder)
            if type(value) in (dict, list)
            else slow(value, connection)
        )
    return slow


def _sets_now(field: Field[Any, Any]) -> bool:
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


def _getter(attnames: list[str]) -> Callable[[Model], tuple[Any, ...]]:
    """One call returning the attributes as a tuple (``attrgetter`` returns a bare value for one)."""
    if len(attnames) == 1:
        get = attrgetter(attnames[0])
        return lambda obj: (get(obj),)
    return cast("Callable[[Model], tuple[Any, ...]]", attrgetter(*attnames))


@lru_cache(maxsize=1024)
def _insert_sql(model: type[Model], rows: int) -> str:
    """The INSERT of ``rows`` rows of ``model`` (identifiers quoted by the backend, values parameters)."""
    plan = _insert_plan(model)
    assert plan is not None  # noqa: S101 - only asked for models that have one
    return f"{plan.head} VALUES {', '.join([plan.row] * rows)} {plan.returning}"


def bulk_update_rows(model: type[M], objs: Iterable[M], fields: Sequence[str]) -> int:
    """``bulk_update(objs, fields)`` as one ``UPDATE ... FROM (VALUES ...)`` on PostgreSQL (split
    under :data:`MAX_PARAMS` parameters a statement, in one transaction).

    Same contract as ``bulk_update`` for plain field values (no expressions; like it, ``auto_now``
    fields are not touched); returns the number of rows updated. Other databases, and a single row,
    use ``bulk_update`` itself.
    """
    rows = list(objs)
    alias = router.db_for_write(model)
    connection = connections[alias]
    if len(rows) < 2 or connection.vendor != "postgresql":
        return model._default_manager.bulk_update(rows, fields) if rows else 0
    meta = model._meta
    pk = meta.pk
    assert pk is not None  # noqa: S101 - every concrete model has one
    columns: list[Field[Any, Any]] = [pk, *(cast("Field[Any, Any]", meta.get_field(name)) for name in fields)]
    qn = connection.ops.quote_name
    table, names = qn(meta.db_table), [f"c{i}" for i in range(len(columns))]
    quoted = [qn(str(f.column)) for f in columns]  # a concrete field always has its column
    assignments = ", ".join(f"{c} = v.{n}" for c, n in zip(quoted[1:], names[1:], strict=True))
    row_sql = "(" + ", ".join(f"%s::{f.cast_db_type(connection)}" for f in columns) + ")"

    def statement(count: int) -> str:
        # Identifiers come from the model and are quoted by the backend; every value is a parameter.
        values_sql = ", ".join([row_sql] * count)
        sql = f"UPDATE {table} SET {assignments} FROM (VALUES {values_sql}) AS v({', '.join(names)}) "  # noqa: S608
        return sql + f"WHERE {table}.{quoted[0]} = v.c0"

    per_statement, updated = max(1, MAX_PARAMS // len(columns)), 0
    with transaction.atomic(using=alias, savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [
                f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in chunk for f in columns
            ]
            cursor.execute(statement(len(chunk)), params)
            updated += cursor.rowcount
    return updated
