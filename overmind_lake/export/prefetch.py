"""Read ahead of a writer: the lake's next batch is decoded while the target
encodes the current one (both release the GIL), so an export costs about the
larger of reading and writing, not their sum (docs/export.md)."""

from __future__ import annotations

import queue
import threading
from typing import Iterator, TypeVar

T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items`` produced by a background thread, at most ``depth`` ahead.

    An exception in the producer is raised here, at the item where it
    happened; a consumer that stops early (closes the generator) stops the
    producer too.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            outcome = (_DONE, None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            outcome = (_DONE, exc)
        while not stop.is_set():
            try:
                slots.put(outcome, timeout=0.1)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=produce, name="overmind-lake-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = slots.get()
            if item is _DONE:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
