"""Run blocking work (a JWKS or token fetch) off the event loop: anyio when installed (asyncio
and trio), else asyncio."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


async def run_sync[T](func: Callable[..., T], *args: Any) -> T:
    try:
        from anyio import to_thread
    except ImportError:  # pragma: no cover - starlette and httpx both bring anyio
        import asyncio

        return await asyncio.to_thread(func, *args)
    return await to_thread.run_sync(func, *args)
