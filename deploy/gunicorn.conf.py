"""gunicorn settings for the IAM (``gunicorn config.wsgi:application -c deploy/gunicorn.conf.py``).

Sync workers, one request at a time each: the work is CPU (RSA, Argon2id) and short database
round trips. Every worker keeps one persistent PostgreSQL connection (DATABASE_CONN_MAX_AGE), so
PostgreSQL's max_connections must cover workers x hosts, plus the db_worker processes, plus
room for maintenance (docs/operations.md, "Scaling to several processes and hosts").
"""

import multiprocessing
import os

bind = os.environ.get("IAM_BIND", "127.0.0.1:8000")  # behind the reverse proxy
workers = int(os.environ.get("IAM_WORKERS", 2 * multiprocessing.cpu_count()))
worker_class = "sync"
timeout = 30
graceful_timeout = 20
# Proxies in front (nginx) send X-Forwarded-For; the IAM reads it only as far as
# IAM_TRUSTED_PROXY_COUNT says, never gunicorn's own forwarded-allow-ips.
forwarded_allow_ips = ""
accesslog = None  # the IAM logs each request itself (JSON, with its request id)


def child_exit(server, worker):  # noqa: ANN001, ANN201  (gunicorn's hook signature)
    """With PROMETHEUS_MULTIPROC_DIR, drop the samples of a worker that exited (its gauges)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
