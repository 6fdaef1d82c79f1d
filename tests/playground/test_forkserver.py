"""The worker process through its own protocol (JSON lines): a child killed at its deadline or
dead at its memory limit is answered "stopped", a cancelled job is never answered, jobs run side
by side, and the server answers the next job after each."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REVERSE = "rev = aggregate(select(indices, length - indices - 1, ==), tokens);"
RUNAWAY = "y = 0;\nfor i in range(100000) { for j in range(100000) { y = i * j; } }"
GIB = 1 << 30


class Worker:
    def __init__(self, root: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rasp_toolkit.playground.forkserver", str(root)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.root = root

    def send(self, job_id: str, job: str, args: dict, time_limit: float = 60, memory: float = 3) -> None:
        request = {"id": job_id, "job": job, "args": args, "time_limit": time_limit, "memory_limit": int(memory * GIB)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def children(self) -> list[str]:
        """The worker's child processes (Linux's /proc)."""
        pid = self.process.pid
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()

    def children_after_reaping(self, expected: int) -> list[str]:
        """The children, once there are `expected` of them or 10 s have passed: a child that
        has answered is reaped a moment later."""
        deadline = time.monotonic() + 10
        while len(self.children()) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.children()

    def answer(self) -> dict:
        return json.loads(self.process.stdout.readline())


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    started = Worker(tmp_path_factory.mktemp("root"))
    yield started
    started.process.stdin.close()
    assert started.process.wait(timeout=30) == 0


def compile_args(out: Path) -> dict:
    return {"source": REVERSE, "name": "rev", "vocab": "a,b", "max_len": 4, "input": "ab", "check": 5, "out": str(out)}


def test_a_child_past_its_deadline_is_killed_and_answered(worker: Worker) -> None:
    """Only the server's kill at the deadline answers "ran past the time limit" (the child
    itself never says it), and the killed child is reaped."""
    worker.send("slow", "evaluate", {"source": RUNAWAY, "input": "ab"}, time_limit=1.5)
    answer = worker.answer()
    assert answer["id"] == "slow" and answer["error"]["stopped"]
    assert "ran past the time limit of 1.5 s" in answer["error"]["message"]
    assert worker.children_after_reaping(0) == []


def test_a_child_dead_at_its_memory_limit_is_answered(worker: Worker, tmp_path: Path) -> None:
    worker.send("small", "compile", compile_args(tmp_path), memory=1.0)  # too little for XLA's compiler
    answer = worker.answer()
    assert answer["id"] == "small" and answer["error"]["stopped"]
    assert "memory limit" in answer["error"]["message"]
    worker.send("enough", "compile", compile_args(tmp_path))
    result = worker.answer()
    assert result["id"] == "enough" and result["result"]["check"]["passed"]


def test_jobs_run_side_by_side_and_a_cancelled_one_is_not_answered(worker: Worker) -> None:
    worker.send("long", "evaluate", {"source": RUNAWAY, "input": "ab"}, time_limit=30)
    worker.send("quick", "evaluate", {"source": "x = indices;", "input": "abc"})
    quick = worker.answer()  # while "long" runs
    assert quick["id"] == "quick" and quick["result"]["values"][0]["values"] == [0, 1, 2]
    assert len(worker.children_after_reaping(1)) == 1  # "long" alone, once "quick"'s child is reaped
    worker.process.stdin.write(json.dumps({"cancel": "long"}) + "\n")
    worker.send("after", "evaluate", {"source": "x = tokens;", "input": "z"})
    assert worker.answer()["id"] == "after"  # no answer for "long"
    assert worker.children_after_reaping(0) == []  # "long" was killed and reaped, long before its 30 s


def test_an_unknown_job_is_answered_with_an_error(worker: Worker) -> None:
    worker.send("odd", "format_disk", {})
    answer = worker.answer()
    assert answer["id"] == "odd" and "no job named 'format_disk'" in answer["error"]["message"]
