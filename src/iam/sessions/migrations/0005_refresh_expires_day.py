"""A refresh becomes a heap-only (HOT) update on PostgreSQL.

A rotation rewrote ``refresh_expires_at``, which was indexed (for ``cleanup_sessions``), so every
refresh wrote a new entry into each of the session table's indexes. The cleanup now finds idle
sessions by ``refresh_expires_day``, the day of that time, which the database keeps and which a
rotation almost never changes; no index holds a column a rotation writes.

On PostgreSQL the table also leaves a fifth of each page free (``fillfactor = 80``), so that the
new version of a row fits on its own page, which a HOT update needs. Adding the stored column
rewrites the table once, under a lock, with the new fill factor; see docs/operations.md.
"""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

import iam.sessions.models

TABLE = "iam_sessions_devicesession"


def leave_room_on_each_page(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'ALTER TABLE "{TABLE}" SET (fillfactor = 80)')


def fill_pages_again(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'ALTER TABLE "{TABLE}" RESET (fillfactor)')


class Migration(migrations.Migration):
    dependencies = [
        ("iam_sessions", "0004_user_index_covered_by_user_live"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="devicesession", name="session_refresh_exp"),
        migrations.RunPython(leave_room_on_each_page, fill_pages_again, elidable=False),
        migrations.AddField(
            model_name="devicesession",
            name="refresh_expires_day",
            field=models.GeneratedField(
                db_persist=True,
                expression=iam.sessions.models.UTCDate("refresh_expires_at"),
                output_field=models.DateField(),
            ),
        ),
        migrations.AddIndex(
            model_name="devicesession",
            index=models.Index(fields=["refresh_expires_day"], name="session_refresh_exp_day"),
        ),
    ]
