"""The worker pool the HTTP layer hands blocking work to (SQLite writes, Argon2, the HSM)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def blocking(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking work on the loop's executor (sized by `worker_threads`) in one hop. A `def`
    endpoint costs FastAPI up to three hops through anyio's pool (dependency, endpoint, response
    validation), each dearer than asyncio's own."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(None, context.run, functools.partial(fn, *args))
