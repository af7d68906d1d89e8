"""A TCP relay that can be cut without a word: what a network partition, or a firewall or NAT
that forgot a connection, looks like to both ends (nothing is closed, nothing arrives)."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time


class SilentProxy:
    """Relays 127.0.0.1:``port`` to ``upstream``. ``cut()`` stops relaying in both directions
    and returns once no relay is in flight: from then on, what either end sends waits, unread,
    in the kernel's buffers. ``heal()`` relays again, in order. ``close()`` ends everything."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._relaying = threading.Lock()  # held while bytes are between recv and sendall
        self._cut = False
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self._cut = True
        self._relaying.acquire()  # a relay already past the check finishes first
        self._relaying.release()

    def heal(self) -> None:
        self._cut = False

    def close(self) -> None:
        self._closed = True
        for sock in [self.listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                near, _ = self.listener.accept()
            except OSError:
                return
            far = socket.create_connection(self.upstream)
            self._sockets += [near, far]
            for source, target in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        while not self._closed:
            try:
                readable = select.select([source], [], [], 0.02)[0]
            except (OSError, ValueError):
                return
            if not readable:
                continue
            if self._cut:  # what arrived stays unread
                time.sleep(0.02)
                continue
            with self._relaying:
                if self._cut:
                    continue
                try:
                    data = source.recv(65536)
                    if not data:
                        target.shutdown(socket.SHUT_WR)
                        return
                    target.sendall(data)
                except OSError:
                    return
