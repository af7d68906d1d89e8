"""Small helpers for the few statements the hot paths write by hand (PostgreSQL CTEs that do
the work of several ORM statements in one round trip)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import AutoField, Field, Model, QuerySet
from django.db.transaction import TransactionManagementError

# a point in time (or span) among a compiled query's constants is the first call's clock
_MOMENTS = (datetime.date, datetime.time, datetime.timedelta)


@cache
def _insert_plan(model: type[Model], vendor: str) -> tuple[str, tuple[Field, ...], Field | None]:
    """Per model (and database vendor): the quoted column list, the fields in that order, and
    the automatic primary key (left out when the instance has none yet). Generated columns are
    the database's to write."""
    db = connections[DEFAULT_DB_ALIAS]
    fields = tuple(f for f in model._meta.concrete_fields if not f.generated)
    auto = next((f for f in fields if isinstance(f, AutoField)), None)
    quote = db.ops.quote_name
    return ", ".join(quote(str(f.column)) for f in fields if f is not auto), fields, auto


def insert_values(instance: Model) -> tuple[str, list[Any]]:
    """``INSERT INTO <table> (<columns>) VALUES (%s, …)`` and its parameters for an unsaved
    model instance, its values prepared as ``save()`` prepares them (defaults, ``auto_now_add``,
    JSON, UUIDs); an automatic primary key is left to the database."""
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: no proxy lookup per field
    columns, fields, auto = _insert_plan(type(instance), db.vendor)
    if auto is not None and getattr(instance, auto.attname) is not None:
        auto = None  # an explicit primary key is written like any column
        columns = ", ".join(db.ops.quote_name(str(f.column)) for f in fields)
    params = [
        f.get_db_prep_save(f.pre_save(instance, add=True), db) for f in fields if f is not auto
    ]
    placeholders = ", ".join(["%s"] * len(params))
    table = db.ops.quote_name(instance._meta.db_table)
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", params  # noqa: S608


class PreparedQuery:
    """A read the ORM builds once per process and the hot path then runs with new values.

    Building and compiling a queryset costs far more CPU than running it (a login's questions
    under the row lock: about a millisecond of ORM work for a statement the database answers in
    a tenth of that). ``build`` returns the queryset for keyword values; it is built once with
    ``examples`` (values unique enough to be recognised among the compiled parameters), and each
    call swaps the real values in at their places. The SQL stays the ORM's: no query is written
    by hand, and a definition shared with other code (an ``Exists`` a selector provides) stays
    one definition. If an example value does not come out of the compiler unchanged, the query is
    built with the ORM at every call instead (never wrong, only slower); so is a query whose
    compiled constants hold a date, time or span (``timezone.now()`` read by ``build``: compiled
    once, it would ask about the first call's moment for ever; a constant that a second build
    gives differently counts as one too).

    A row lock (``select_for_update``) is refused outside a transaction, as the ORM refuses it:
    in autocommit the lock ends with the statement, and the caller would hold nothing.
    """

    def __init__(self, build: Callable[..., QuerySet[Any]], **examples: Any) -> None:
        self._build, self._examples = build, examples
        self._compiled: tuple[str, list[tuple[str | None, Any]]] | None = None
        self._convert: Callable[[list[Any]], list[tuple[Any, ...]]] = list
        self._fallback = False
        self._locks = False

    def _compile(self) -> None:
        queryset = self._build(**self._examples)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        self._locks = bool(
            queryset.query.select_for_update and compiler.connection.features.has_select_for_update
        )
        # the column converters the ORM applies to its rows (e.g. UUIDs stored as text)
        converters = compiler.get_converters(
            [column[0] for column in compiler.select[: compiler.col_count]]
        )
        if converters:
            self._convert = lambda rows: [
                tuple(row) for row in compiler.apply_converters(rows, converters)
            ]
        slots: list[tuple[str | None, Any]] = []
        found = set()
        for param in params:
            name = next((k for k, v in self._examples.items() if param == v), None)
            slots.append((name, param))
            found.add(name)
        # a constant that is a moment (PostgreSQL's parameters), or that a second build gives
        # differently (SQLite's, which arrive as text), came from the clock, not the code
        _, again = self._build(**self._examples).query.get_compiler(using=queryset.db).as_sql()
        frozen = len(again) != len(slots) or any(
            name is None and (isinstance(value, _MOMENTS) or value != other)
            for (name, value), other in zip(slots, again, strict=False)
        )
        if found.issuperset(self._examples) and not frozen:
            self._compiled = (sql, slots)
        else:
            self._fallback = True

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        """The rows of ``build(**values)`` (a ``values_list`` query)."""
        if self._compiled is None and not self._fallback:
            self._compile()
        if self._compiled is None:
            return list(self._build(**values))
        sql, slots = self._compiled
        if self._locks and connection.get_autocommit():
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        params = [values[name] if name is not None else constant for name, constant in slots]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return self._convert(cursor.fetchall())

    def first(self, **values: Any) -> tuple[Any, ...] | None:
        found = self.rows(**values)
        return found[0] if found else None
