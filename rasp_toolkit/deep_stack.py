"""Deeply nested programs against Python's recursion limit.

The reader's tree transformer, the interpreter and the compiler recurse once per level of a
program's nesting: 600 chained `+`, 1,000 nested calls or 600 chained assignments pass Python's
default limit of 1,000 frames (issue 23).  `deeply(work)` runs `work` in a thread whose stack
holds RECURSION_LIMIT frames with room to spare, with the limit raised to that, so such
programs run; deeper ones end in the located RaspError the runtime, the reader and the compiler
make of a RecursionError, never in a crash of the interpreter's own stack.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

RECURSION_LIMIT = 20_000
STACK_BYTES = 1 << 29
"""512 MiB of address space (touched only as deep as the recursion goes): about 26 KiB a
frame, several times what a frame of the reader, interpreter or compiler takes."""


_unfinished: set[threading.Event] = set()
"""The end-of-work events of the `deeply` calls under way (for `leave_if_busy`)."""


def deeply(work: Callable[[], T]) -> T:
    """`work()`, run in a thread with a deep stack and a raised recursion limit; its result or
    its exception, as if called here.  The caller waits on an event in short waits, so Ctrl-C
    still reaches it (the thread is a daemon: the process does not wait for it).  It waits on
    an event, not `Thread.join`: a join that Ctrl-C interrupts leaves the thread marked as
    stopped while it still runs (CPython 3.11)."""
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # handed to the caller, which raises it
            outcome["error"] = error
        finally:
            done.set()

    previous_stack = threading.stack_size(STACK_BYTES)
    try:
        thread = threading.Thread(target=target, name="rasp-deep-stack", daemon=True)
    finally:
        threading.stack_size(previous_stack)
    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous_limit, RECURSION_LIMIT))
    _unfinished.add(done)
    try:
        thread.start()
        while not done.wait(0.1):
            pass
    finally:
        sys.setrecursionlimit(previous_limit)
    _unfinished.discard(done)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def leave_if_busy(status: int) -> None:
    """After Ctrl-C has reached the caller: if the work is still running (an XLA compilation,
    in C++, cannot be interrupted), end the process at once with `status`.  A normal exit
    would finalise the interpreter under the running thread, which aborted the process
    ("terminate called ...") in most tries."""
    if any(not done.is_set() for done in _unfinished):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
