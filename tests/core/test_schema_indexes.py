"""No index the database must keep up to date for nothing: an index whose columns are the
leading columns of another index on the same table serves no lookup the longer one does not
(B-trees), and costs a write on every insert and on every update that is not HOT (a refresh
rotates a session's row and writes an audit row: each such index is one more page to change)
and space on disk at every size. Django's own many-to-many tables (``User.groups``) are left
as Django makes them."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db


def _iam_tables() -> list[str]:
    return sorted(
        {model._meta.db_table for model in apps.get_models() if model.__module__.startswith("iam.")}
    )


def _partial(table: str) -> set[str]:
    """The names of the table's partial indexes: they cover a part of it only."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexrelid::regclass::text FROM pg_index "
                "WHERE indrelid = %s::regclass AND indpred IS NOT NULL",
                [table],
            )
        else:
            cursor.execute("SELECT name FROM pragma_index_list(%s) WHERE partial = 1", [table])
        return {row[0] for row in cursor.fetchall()}


def redundant_indexes(table: str) -> list[str]:
    with connection.cursor() as cursor:
        constraints: dict[str, dict[str, Any]] = connection.introspection.get_constraints(
            cursor, table
        )
    partial = _partial(table)
    whole = {
        name: tuple(info["columns"])
        for name, info in constraints.items()
        if info["columns"]
        and (info["index"] or info["unique"] or info["primary_key"])
        and name not in partial
        # PostgreSQL's pattern-ops twin of a text column's index (Django makes both) serves
        # LIKE 'prefix%' and not the plain index's ordering: neither stands in for the other
        and not name.endswith("_like")
    }
    plain = {
        name: columns
        for name, columns in whole.items()
        if not constraints[name]["unique"]
        and not constraints[name]["primary_key"]
        and constraints[name].get("type") in ("btree", "idx")
    }
    found = []
    for name, columns in plain.items():
        for other, other_columns in whole.items():
            if other == name or other_columns[: len(columns)] != columns:
                continue
            # a longer index covers it; of two equal ones, the second by name is the extra
            if len(other_columns) > len(columns) or other not in plain or name > other:
                found.append(f"{table}.{name} {columns}: covered by {other} {other_columns}")
                break
    return found


def test_no_index_is_the_leading_part_of_another():
    found = [line for table in _iam_tables() for line in redundant_indexes(table)]
    assert found == [], "\n".join(found)
