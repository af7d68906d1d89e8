"""Create (if missing) and migrate the stock database, and create the bench user.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_stock \\
        .venv/bin/python bench/stock/setup_db.py [--fresh]

``--fresh`` drops and recreates the database first (empty token_blacklist tables).
"""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stock_settings")

USERNAME = "bench"
EMAIL = "bench@example.com"
PASSWORD = "bench-password-123"


def ensure_database(fresh: bool) -> None:
    """CREATE DATABASE through the server's maintenance database ``postgres``."""
    import psycopg
    from django.conf import settings
    from psycopg import sql

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        return
    params = {"dbname": "postgres", "user": db.get("USER") or None, "autocommit": True}
    params |= {"host": db.get("HOST") or None, "port": db.get("PORT") or None}
    params["password"] = db.get("PASSWORD") or None
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
        name = sql.Identifier(db["NAME"])
        if fresh:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
        if exists.fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database")
    args = parser.parse_args()

    import django

    django.setup()
    ensure_database(args.fresh)

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    user, _ = get_user_model().objects.get_or_create(username=USERNAME, defaults={"email": EMAIL})
    user.email = EMAIL
    user.is_active = True
    user.set_password(PASSWORD)
    user.save()
    print(f"stock database ready: user {USERNAME!r} ({EMAIL})")


if __name__ == "__main__":
    main()
