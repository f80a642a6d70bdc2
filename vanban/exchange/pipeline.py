"""Overlap a connector run's calls to the hub with its own work.

A run uses its database session on one thread only. The calls that wait for
the hub (sending a package, downloading one, acknowledging one) go to a few
worker threads, so that the run builds or stores the next package while the
hub is still working on the last one. Each call's outcome comes back to the run's
thread, in the order the calls were made, where a handler records it.
"""

import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """The value a call returned, or the exception it raised."""

    value: Any = None
    error: Exception | None = None


def _run(call: Callable[[], Any]) -> Outcome:
    try:
        return Outcome(value=call())
    except Exception as exc:
        return Outcome(error=exc)


class Calls:
    """Up to `depth` calls at once; with a depth of 1 each call runs at once.

    `submit` starts a call and, when `depth` calls are waiting, hands the
    oldest one's outcome to its handler first. `finish` hands over the rest.
    An exception that a handler raises goes to the caller of `submit` or
    `finish`; the calls still running then end without their handlers.
    `on_wait` runs before the run's thread waits for a call that has not
    ended, so that it can close its transaction and hold no lock meanwhile.
    """

    def __init__(
        self,
        depth: int,
        on_wait: Callable[[], None] | None = None,
        name: str = "vanban-hub",
    ):
        self.depth = max(1, depth)
        self.on_wait = on_wait
        self._pool = (
            ThreadPoolExecutor(max_workers=self.depth, thread_name_prefix=name)
            if self.depth > 1
            else None
        )
        self._waiting: deque[tuple[Future, Callable[[Outcome], None]]] = deque()

    def submit(
        self, call: Callable[[], Any], handle: Callable[[Outcome], None]
    ) -> None:
        if self._pool is None:
            handle(_run(call))
            return
        self._waiting.append((self._pool.submit(_run, call), handle))
        while len(self._waiting) >= self.depth:
            self._hand_over_oldest()

    def finish(self) -> None:
        while self._waiting:
            self._hand_over_oldest()

    def _hand_over_oldest(self) -> None:
        future, handle = self._waiting.popleft()
        if not future.done() and self.on_wait is not None:
            self.on_wait()
        handle(future.result())

    def __enter__(self) -> "Calls":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            if exc_type is None:
                self.finish()
        finally:
            if self._waiting:
                logger.debug("%d hub calls ended without handling", len(self._waiting))
                self._waiting.clear()
            if self._pool is not None:
                self._pool.shutdown(wait=True)
