"""Small helpers for the few statements the hot paths write by hand (PostgreSQL CTEs that do
the work of several ORM statements in one round trip)."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import AutoField, Model


def insert_values(instance: Model) -> tuple[str, list[Any]]:
    """``INSERT INTO <table> (<columns>) VALUES (%s, …)`` and its parameters for an unsaved
    model instance, its values prepared as ``save()`` prepares them (defaults, ``auto_now_add``,
    JSON, UUIDs); an automatic primary key is left to the database."""
    meta = instance._meta
    columns, params = [], []
    for field in meta.concrete_fields:
        if isinstance(field, AutoField) and getattr(instance, field.attname) is None:
            continue
        value = field.pre_save(instance, add=True)
        columns.append(connection.ops.quote_name(field.column))
        params.append(field.get_db_prep_save(value, connection))
    placeholders = ", ".join(["%s"] * len(columns))
    table = connection.ops.quote_name(meta.db_table)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", params  # noqa: S608
