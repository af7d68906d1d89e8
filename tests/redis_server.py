"""A real ``redis-server`` of a test's own: a free port on 127.0.0.1, a temporary directory,
started, stopped and restarted by the test (never the shared Redis)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """``stop()`` shuts it down (clients see their connections closed, then refused);
    ``start()`` brings it back on the same port, empty, or with what ``snapshot()`` saved last
    (as a restart with persistence or a failover to a lagging replica would)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.port = free_port()
        self.dir = directory or Path(tempfile.mkdtemp(prefix="iam-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert REDIS_SERVER, "redis-server is not installed"
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--dbfilename", "dump.rdb",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except Exception:  # not listening (or still loading its snapshot) yet
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def client(self, db: int = 0) -> Any:
        import redis

        return redis.Redis(port=self.port, db=db, socket_timeout=2, socket_connect_timeout=2)

    def snapshot(self) -> None:
        """Save what it holds now: the next ``start()`` comes back with it."""
        self.client().save()

    def forget(self) -> None:
        """The next ``start()`` comes back empty."""
        (self.dir / "dump.rdb").unlink(missing_ok=True)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # with --save "": no snapshot on the way down
            self.process.wait(timeout=10)
            self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
