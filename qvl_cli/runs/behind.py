"""Grounding behind the model: a batch grounds one document while the model reads the next.

Once the model has answered a document, what is left is its grounding (see
:mod:`qvl_cli.runs.answered`): waiting for its page OCR and for the closer look at its scanned
regions, both in the render workers, and matching its values, pure Python on data of its own.
None of it touches the model, so :class:`Behind` hands it to one thread of its own and the
model's thread goes on with the next document at once; the model is only ever called from the
thread that runs the batch. That one thread grounds documents in input order, so a record is
ready when the ones before it are, and :class:`Behind` writes each as soon as it is its turn.

Memory stays bounded: at most ``limit`` documents wait for their grounding or to be written
(without their page images, which are let go once the model has read them); when one more comes,
the thread running the batch first waits for the oldest. With in-process rendering
(``--render-workers 0``) the closer look is drawn and read in the grounding thread, which then
takes CPU beside the model rather than waiting for workers.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from qvl_cli.runs.answered import Answered
from qvl_cli.runs.records import Envelope

Value = TypeVar("Value")
Item = TypeVar("Item")
GROUNDING_BEHIND = 2  # documents that may wait for grounding while the model reads the next ones


class DocumentThreads:
    """``count`` daemon threads taking calls in order: on Ctrl-C, qvl exits without waiting for
    them (a thread pool's threads would be waited for)."""

    def __init__(self, count: int, name: str = "qvl-document") -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = queue.SimpleQueue()
        for number in range(count):
            threading.Thread(target=self._serve, name=f"{name}-{number}", daemon=True).start()
        self._count = count

    def submit(self, call: Callable[..., Value], *args: Any) -> Future[Value]:
        future: Future[Value] = Future()
        self._calls.put((lambda: call(*args), future))
        return future

    def shutdown(self) -> None:
        """Cancel the calls not started; each thread ends after its current call."""
        while True:
            try:
                item = self._calls.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[1].cancel()
        for _ in range(self._count):
            self._calls.put(None)

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            call, future = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:  # handed to the thread that waits for the record
                    future.set_exception(exc)


class Behind(Generic[Item]):
    """Results in input order, each handed to ``write`` (with the item it belongs to) once it is
    grounded and the ones before it are written (see the module docstring)."""

    def __init__(self, write: Callable[[Item, Envelope | None], None], limit: int = GROUNDING_BEHIND) -> None:
        self._write = write
        self.limit = max(1, limit)
        self._order: deque[tuple[Item, Future[Envelope | None]]] = deque()
        self._thread: DocumentThreads | None = None  # started on first use

    def add(self, item: Item, result: Envelope | Answered | None) -> None:
        """Queue ``result`` (an answer is grounded in the grounding thread); write what is ready,
        and wait for the oldest while more than ``limit`` are queued."""
        future: Future[Envelope | None]
        if isinstance(result, Answered):
            if self._thread is None:
                self._thread = DocumentThreads(1, "qvl-grounding")
            future = self._thread.submit(result.envelope)
        else:
            future = Future()
            future.set_result(result)
        self._order.append((item, future))
        self._write_ready(block=len(self._order) - self.limit)

    def drain(self) -> None:
        """Wait for every queued result and write it."""
        self._write_ready(block=len(self._order))

    def salvage(self) -> None:
        """After the batch failed or was interrupted: write what the model had answered, in
        order, waiting for its grounding (a second Ctrl-C stops at once); the first result whose
        grounding failed ends it (its document and those after it are done again by --resume), as
        does a write that fails (the output itself may be what failed)."""
        while self._order:
            item, future = self._order.popleft()
            try:
                self._write(item, future.result())
            except Exception:
                return

    def close(self) -> None:
        """Let the grounding thread go (grounding not yet started is dropped: call after
        :meth:`drain`, or on an interrupt)."""
        if self._thread is not None:
            self._thread.shutdown()
            self._thread = None

    @property
    def waiting(self) -> int:
        """Results queued and not yet written."""
        return len(self._order)

    def _write_ready(self, block: int = 0) -> None:
        """Write results in order: the first ``block`` waited for, then those that are done."""
        while self._order and (block > 0 or self._order[0][1].done()):
            item, future = self._order.popleft()
            self._write(item, future.result())
            block -= 1
