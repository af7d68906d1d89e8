"""Flows that run to their end when a revocation cannot be announced to every process.

A change that revokes something (a session ended, a user deactivated) is announced to every IAM
process through Redis (``iam.sessions.auth_state``). If Redis cannot be told, the change stands
(the database is the truth) and the caller gets ``RevocationNotPropagated`` (503). Inside
``broadcasts_deferred`` that failure does not interrupt the flow: it runs to its end and commits
its change with its mails and audit events, and the exception is raised once the block has run.

It sits in core so that a flow of any app can run deferred, whichever app's receivers do the
revoking: tenancy's member removal ends the member's sessions through a ``Membership`` signal that
``iam.sessions.tenants`` receives, inside the removal's transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from iam.core.exceptions import RevocationNotPropagated


@dataclass(slots=True)
class BroadcastOutcome:
    """What became of the required broadcasts of one ``broadcasts_deferred`` block."""

    failure: Exception | None = None


_deferred: ContextVar[BroadcastOutcome | None] = ContextVar("iam_broadcasts_deferred", default=None)


def broadcast_outcome() -> BroadcastOutcome | None:
    """The outcome of the ``broadcasts_deferred`` block running now, None outside any: a failed
    broadcast is recorded there instead of raised."""
    return _deferred.get()


@contextlib.contextmanager
def broadcasts_deferred(*, report: bool = True) -> Iterator[BroadcastOutcome]:
    """Run a whole flow even if a required broadcast inside it fails: its transactions commit
    with their mails and audit events, and ``RevocationNotPropagated`` is raised once the block
    has run (``report=False``: the caller reads ``failure`` instead). Once one has failed, the
    block's later broadcasts do not try Redis again (they would wait for the same timeout); they
    are kept for re-sending like the failed one. Nested blocks report at the outermost one."""
    outer = _deferred.get()
    if outer is not None:
        yield outer
        return
    outcome = BroadcastOutcome()
    token = _deferred.set(outcome)
    try:
        yield outcome
    finally:
        _deferred.reset(token)
    if report and outcome.failure is not None:
        raise RevocationNotPropagated() from outcome.failure
