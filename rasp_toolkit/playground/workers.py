"""The web server's side of the worker process (`playground.forkserver`): it starts the process,
sends it jobs and hands each job's answers back to the request that asked, on asyncio.

The worker process is started on the first job and again after it dies (a bug of ours, or a
kill from outside): the request in flight then gets an error, and the next one a fresh worker.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LINE_LIMIT = 1 << 28
"""The longest answer line read from the worker (a compile's attention patterns are long)."""


WORKER_ENDED = {"message": "the worker process ended; the next request starts a new one", "stopped": True}


@dataclass(frozen=True)
class Limits:
    """What one job may take: seconds of wall-clock time and bytes of address space."""

    time_limit: float = 20.0
    memory_limit: int = 3 << 30


class JobFailed(Exception):
    """A job's error, as the page shows it (`error`: message, hint, line, column, stopped)."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", "the job failed"))
        self.error = error


class Workers:
    """Runs jobs in the worker process; `run` waits for a job's result, `stream` yields its
    progress and then its result."""

    def __init__(self, root: Path, limits: Limits) -> None:
        self.root = root
        self.limits = limits
        self.process: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None
        self.queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.sent_to: dict[str, asyncio.subprocess.Process] = {}  # the worker each job went to
        self.ids = itertools.count()
        self.lock = asyncio.Lock()

    async def start(self) -> None:
        """Starts the worker process now, so that the page's first evaluation does not wait
        for its imports."""
        await self._worker()

    async def _worker(self) -> asyncio.subprocess.Process:
        async with self.lock:
            if self.process is None or self.process.returncode is not None:
                self.process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "rasp_toolkit.playground.forkserver", str(self.root),
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT,
                )
                self.reader = asyncio.create_task(self._read(self.process))
            return self.process

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        """Hands every answer line to its job's queue; when the worker ends, fails the jobs
        still waiting."""
        assert process.stdout is not None
        while line := await process.stdout.readline():
            payload = json.loads(line)
            queue = self.queues.get(payload.get("id"))
            if queue is not None:
                queue.put_nowait(payload)
        await process.wait()
        for job_id, queue in self.queues.items():
            if self.sent_to.get(job_id) is process:
                queue.put_nowait({"error": WORKER_ENDED})

    async def stream(self, job: str, args: dict[str, Any], time_limit: float | None = None) -> AsyncIterator[dict]:
        """Yields `{"progress": ...}` answers, then `{"result": ...}`; raises JobFailed with the
        job's error. When the caller stops listening (the page went away), the job is killed."""
        process = await self._worker()
        assert process.stdin is not None
        job_id = str(next(self.ids))
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.queues[job_id] = queue
        request = {
            "id": job_id, "job": job, "args": args,
            "time_limit": time_limit or self.limits.time_limit, "memory_limit": self.limits.memory_limit,
        }
        self.sent_to[job_id] = process
        finished = False
        try:
            try:
                process.stdin.write((json.dumps(request) + "\n").encode())
                await process.stdin.drain()
            except ConnectionError:  # the worker died before `_read` saw it end
                finished = True
                raise JobFailed(WORKER_ENDED) from None
            while True:
                payload = await queue.get()
                if "error" in payload:
                    finished = True
                    raise JobFailed(payload["error"])
                yield payload
                if "result" in payload:
                    finished = True
                    return
        finally:
            del self.queues[job_id], self.sent_to[job_id]
            if not finished and process.returncode is None:
                process.stdin.write((json.dumps({"cancel": job_id}) + "\n").encode())

    async def run(self, job: str, args: dict[str, Any], time_limit: float | None = None) -> dict[str, Any]:
        """The job's result (its progress ignored); raises JobFailed with its error."""
        async for payload in self.stream(job, args, time_limit):
            if "result" in payload:
                return payload["result"]
        raise JobFailed({"message": "the job gave no result", "stopped": True})

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except asyncio.TimeoutError:
                self.process.kill()
