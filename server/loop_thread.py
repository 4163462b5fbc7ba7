"""An asyncio event loop on a thread of its own, for the synchronous hub to run a
grpc.aio server in.

The hub is a threaded program (its parts lock with ``threading``, its chores are
threads, ``running_hub`` is a plain context manager); only its gRPC server is
asynchronous, so that an open subscription is a coroutine, not a thread.
``LoopThread`` runs the loop on a daemon thread, with the hub's worker pool as
its default executor (where coroutines send blocking work); ``run`` runs a
coroutine there and waits for it from the calling thread; ``close`` cancels
what is left, stops the loop and joins its thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str, executor: Executor) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(executor)
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop; its result (or exception), once it is done."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        """Cancel the tasks left (once the server has stopped, none should be), stop the
        loop and join its thread."""
        if not self._thread.is_alive():
            return
        self.run(_wind_up())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()  # shuts the executor down without waiting: the caller waits


async def _wind_up() -> None:
    """On the loop (the calling thread may run a loop of its own): cancel the other
    tasks, then finalize the asynchronous generators left."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()
