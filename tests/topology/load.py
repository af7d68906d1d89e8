"""A mixed load on the topology's IAM processes, recording every request.

Each client thread has an account of its own and behaves like an app: it signs in, refreshes its
session (rotating the refresh token it holds), calls ``/me`` with its access token on the other
process, and now and then signs in again. What a thread believes its session's state to be is
kept, so that the database can be checked against it afterwards: the refresh token it holds is
the session's current one, or (after a rotation whose answer it never received) the previous one.

Optional extras for the soak: access tokens verified in-process by ``iam_client.Verifier``
against the IAM's JWKS, and client-credentials tokens fetched by ``iam_client.ClientCredentials``.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from tests.topology.harness import PASSWORD, Iam


@dataclass
class Record:
    op: str
    process: str
    started: float  # time.monotonic()
    seconds: float
    status: int  # 0: no HTTP answer (connection refused or reset, timeout)
    code: str = ""


@dataclass
class Chain:
    """What one client knows of its current session."""

    email: str
    sid: str = ""
    refresh: str = ""
    access: str = ""
    rotations_seen: int = 0  # rotations answered with a new refresh token
    rotations_unknown: int = 0  # refreshes sent whose answer never came (may have rotated)
    grace_answers: int = 0
    sessions: list[str] = field(default_factory=list)


def _jti(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


class Load:
    def __init__(
        self,
        iams: list[Iam],
        emails: list[str],
        *,
        verifier: Any = None,
        client_credentials: Any = None,
        pause: float = 0.0,
        login_every: int = 25,
    ) -> None:
        self.iams = iams
        self.chains = [Chain(email) for email in emails]
        self.records: list[Record] = []
        self.violations: list[str] = []
        self.service_tokens: set[str] = set()  # each one fetched (concurrent callers share one)
        self.verifier = verifier
        self.client_credentials = client_credentials
        self.pause = pause
        self.login_every = login_every
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._clients = {iam.name: httpx.Client(base_url=iam.url, timeout=15) for iam in iams}

    # --- running ------------------------------------------------------------------------
    def start(self) -> Load:
        for index, chain in enumerate(self.chains):
            thread = threading.Thread(target=self._run, args=(index, chain), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        for client in self._clients.values():
            client.close()

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(
        self, op: str, iam: Iam, method: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        started = time.monotonic()
        response: httpx.Response | None
        try:
            response = self._clients[iam.name].request(method, path, **kwargs)
        except httpx.HTTPError:
            response = None
        seconds = time.monotonic() - started
        code = ""
        if response is not None and response.status_code >= 400:
            try:
                code = str(response.json().get("code", ""))
            except ValueError:
                code = "<not json>"
        record = Record(
            op, iam.name, started, seconds, 0 if response is None else response.status_code, code
        )
        with self._lock:
            self.records.append(record)
        return response

    def _login(self, chain: Chain, iam: Iam) -> None:
        response = self._call(
            "login", iam, "POST", "/api/auth/login/",
            json={"email": chain.email, "password": PASSWORD, "transport": "body"},
        )  # fmt: skip
        if response is not None and response.status_code == 200:
            body = response.json()
            chain.refresh, chain.access = body["refresh"], body["access"]
            chain.sid = jwt.decode(body["access"], options={"verify_signature": False})["sid"]
            chain.sessions.append(chain.sid)

    def _refresh(self, chain: Chain, iam: Iam) -> None:
        sent = chain.refresh
        response = self._call("refresh", iam, "POST", "/api/auth/refresh/", json={"refresh": sent})
        if response is None or response.status_code >= 500:
            chain.rotations_unknown += 1
            return
        body = response.json()
        if response.status_code == 200 and "refresh" in body:
            chain.refresh, chain.access = body["refresh"], body["access"]
            chain.rotations_seen += 1
        elif response.status_code == 200:  # the grace answer: an earlier try had rotated
            chain.grace_answers += 1
            chain.access = body["access"]
            chain.refresh = ""  # the new refresh token was lost with that answer: sign in again
        else:
            self.violations.append(f"{chain.email}: refresh answered {response.status_code} {body}")
            chain.refresh = ""

    def _run(self, index: int, chain: Chain) -> None:
        rng = random.Random(index)
        step = 0
        while not self._stop.is_set():
            a, b = rng.sample(self.iams, 2) if len(self.iams) > 1 else (self.iams[0],) * 2
            if not chain.refresh or step % self.login_every == 0:
                self._login(chain, a)
            elif chain.refresh:
                self._refresh(chain, a)
            if chain.access:
                response = self._call(
                    "me", b, "GET", "/api/auth/me/",
                    headers={"Authorization": f"Bearer {chain.access}"},
                )  # fmt: skip
                if response is not None and response.status_code == 401:
                    self.violations.append(f"{chain.email}: /me refused a live session's token")
                if self.verifier is not None:
                    self._verify(chain.access)
            if self.client_credentials is not None and step % 10 == 0:
                self._service_token()
            step += 1
            if self.pause:
                time.sleep(self.pause)

    def _verify(self, token: str) -> None:
        from iam_client import TokenError

        started = time.monotonic()
        status = 200
        try:
            self.verifier.verify(token)
        except TokenError as exc:
            status = 401
            self.violations.append(f"iam-client refused a fresh access token: {exc.code}")
        with self._lock:
            self.records.append(
                Record("verify", "iam-client", started, time.monotonic() - started, status)
            )

    def _service_token(self) -> None:
        from iam_client import TokenRequestError

        started = time.monotonic()
        status = 200
        try:
            token = self.client_credentials.token()
            self.client_credentials.invalidate(token)  # the next call fetches a new one
            with self._lock:
                self.service_tokens.add(token)
        except TokenRequestError as exc:
            status = exc.status or 0
        with self._lock:
            self.records.append(
                Record(
                    "client_credentials", "iam-client", started, time.monotonic() - started, status
                )
            )

    # --- reading the results ------------------------------------------------------------
    def between(self, start: float, end: float) -> list[Record]:
        return [r for r in self.records if start <= r.started < end]

    def outside(self, windows: list[tuple[float, float]]) -> list[Record]:
        """Requests that began and ended outside every fault window."""
        return [
            r
            for r in self.records
            if not any(r.started < end and r.started + r.seconds > start for start, end in windows)
        ]

    def consistent_with(self, rows: dict[str, tuple[str, str, bool]]) -> list[str]:
        """Every client's session in the database (``sid -> (refresh_jti, previous_refresh_jti,
        revoked)``) agrees with what the client holds: the refresh token it holds is the current
        one, or the previous one after a rotation whose answer it never received. Nothing is
        half-rotated, and no session is revoked that its client did not give up."""
        problems = []
        for chain in self.chains:
            if not chain.sid or not chain.refresh:
                continue
            current, previous, revoked = rows[chain.sid]
            if revoked:
                problems.append(f"{chain.email}: session {chain.sid} revoked")
            held = _jti(chain.refresh)
            if held != current and not (held == previous and chain.rotations_unknown):
                problems.append(f"{chain.email}: holds {held}, database has {current}/{previous}")
        return problems


def percentiles(records: list[Record]) -> dict[str, dict[str, float]]:
    """p50/p99 latency (ms) and count per operation."""
    by_op: dict[str, list[float]] = {}
    for record in records:
        by_op.setdefault(record.op, []).append(record.seconds * 1000)
    table = {}
    for op, values in sorted(by_op.items()):
        values.sort()
        table[op] = {
            "count": len(values),
            "p50_ms": round(values[len(values) // 2], 2),
            "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))], 2),
        }
    return table
