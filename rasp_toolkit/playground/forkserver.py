"""The playground's worker process: it imports the toolkit (and JAX) once, then forks a child
per job, so that every evaluation and compile runs in a process of its own under a time and a
memory limit, and starts in milliseconds instead of the seconds a fresh interpreter's imports
take.  JAX is imported here but never run, so no thread pool exists when a child is forked.

Run as `python -m rasp_toolkit.playground.forkserver ROOT` by the web server
(`playground.workers`), it speaks JSON lines on its standard streams:

- in: `{"id", "job", "args", "time_limit", "memory_limit"}` starts a job; `{"cancel": id}` stops one;
- out: `{"id", "progress": {...}}` while a job runs, then `{"id", "result": {...}}` or
  `{"id", "error": {"message", "hint", "line", "column", "stopped"}}`.

A child that runs past its time is killed and its job answered "stopped"; one that exhausts its
address space fails inside (a MemoryError) or dies of a signal, and is answered "stopped" too.
The children write their answers to a pipe of their own; their standard output goes to the
server's standard error, so nothing a library prints can break the protocol.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rasp.errors import RaspError
from rasp_toolkit.deep_stack import deeply
from rasp_toolkit.playground import jobs
from turing.errors import TuringError

MAX_RUNNING = 3
"""Jobs run at once; later ones wait. A long compile leaves room for the page's evaluations."""

Job = Callable[[dict[str, Any], Path, jobs.Emit], dict[str, Any]]

NOUNS = {
    "evaluate": "evaluation",
    "draw": "drawing",
    "compile": "compile",
    "turing_run": "machine's run",
    "turing_attention": "machine's compile",
    "turing_verify": "verification",
}
"""What each job is called in the messages of a job stopped."""

JOBS: dict[str, Job] = {
    "evaluate": lambda a, root, emit: jobs.evaluate_program(
        jobs.text(a, "source"), jobs.text(a, "input"), jobs.flag(a, "causal"), root
    ),
    "draw": lambda a, root, emit: jobs.draw(
        jobs.text(a, "source"), jobs.text(a, "input"), jobs.flag(a, "causal"), jobs.text(a, "name"), root
    ),
    "compile": lambda a, root, emit: jobs.compile_sop(a, root, Path(a["out"])),
    "turing_run": lambda a, root, emit: jobs.run_turing(a),
    "turing_attention": lambda a, root, emit: jobs.turing_attention(a),
    "turing_verify": lambda a, root, emit: jobs.verify_turing(a, emit),
}


def stopped(message: str, hint: str | None = None) -> dict[str, Any]:
    return {"message": message, "hint": hint, "line": None, "column": None, "stopped": True}


def _signal_name(number: int) -> str:
    try:
        return f"signal {signal.Signals(number).name}"
    except ValueError:
        return f"signal {number}"


def _gib(size: int) -> str:
    return f"{size / (1 << 30):.3g} GiB"


def run_child(request: dict[str, Any], root: Path, answer_fd: int) -> None:
    """In the forked child: the limits, then the job; the answer goes to `answer_fd`."""
    os.dup2(2, 1)  # what the job's libraries print goes to the log, not into the protocol
    limit = int(request["memory_limit"])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # a backstop should the server die: it kills the child at its time limit, which every core
    # the child's threads (JAX's) keep busy at once spends faster in CPU time
    cpu = int(float(request["time_limit"]) * (os.cpu_count() or 1)) + 5
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    os.chdir(root)
    answer = os.fdopen(answer_fd, "w", encoding="utf-8")

    def send(payload: dict[str, Any]) -> None:
        answer.write(json.dumps({"id": request["id"], **payload}) + "\n")
        answer.flush()

    try:
        job = JOBS[request["job"]]
        # in a thread with a deep stack, as the rasp command runs (rasp_toolkit.deep_stack)
        result = deeply(lambda: job(request.get("args") or {}, root, lambda p: send({"progress": p})))
        send({"result": result})
    except (RaspError, TuringError) as error:
        send({"error": jobs.error_json(error)})
    except OSError as error:  # a file the job writes (a compile's weights) on a full disk, say
        where = f" {error.filename}" if error.filename else ""
        send({"error": {**stopped(f"the {NOUNS[request['job']]} could not write{where}: {error.strerror}"),
                        "stopped": False}})
    except (MemoryError, RecursionError) as error:
        what = "memory limit" if isinstance(error, MemoryError) else "recursion limit"
        send({"error": stopped(f"stopped: the {NOUNS[request['job']]} reached the {what} ({_gib(limit)})")})
    except BaseException as error:  # noqa: BLE001 - a bug of ours: told, logged, the server lives on
        traceback.print_exc()
        send({"error": {**stopped(f"internal error: {type(error).__name__}: {error}"), "stopped": False}})
    answer.close()
    os._exit(0)


@dataclass
class Child:
    """A running job: its process, its answer pipe and what it has sent so far."""

    request: dict[str, Any]
    pid: int
    fd: int
    deadline: float
    buffer: bytearray = field(default_factory=bytearray)
    answered: bool = False
    timed_out: bool = False


class ForkServer:
    """Reads requests from standard input, runs at most MAX_RUNNING children at once, and
    forwards their answers to standard output."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, Child] = {}  # by answer fd
        self.waiting: list[dict[str, Any]] = []
        self.input = bytearray()

    def send(self, payload: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(payload) + "\n")
        sys.stdout.flush()

    def start(self, request: dict[str, Any]) -> None:
        if request.get("job") not in JOBS:
            self.send({"id": request.get("id"), "error": stopped(f"no job named {request.get('job')!r}")})
            return
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as error:  # too many processes, or no memory for one more
            os.close(read_fd)
            os.close(write_fd)
            message = f"stopped: no process could be started ({error.strerror})"
            self.send({"id": request["id"], "error": stopped(message)})
            return
        if pid == 0:
            os.close(read_fd)
            run_child(request, self.root, write_fd)
        os.close(write_fd)
        deadline = time.monotonic() + float(request["time_limit"])
        self.children[read_fd] = Child(request, pid, read_fd, deadline)
        self.selector.register(read_fd, selectors.EVENT_READ)

    def cancel(self, job_id: str) -> None:
        self.waiting = [request for request in self.waiting if request["id"] != job_id]
        for child in self.children.values():
            if child.request["id"] == job_id:
                os.kill(child.pid, signal.SIGKILL)
                child.answered = True  # the page has gone: nothing to tell it

    def read_requests(self) -> bool:
        """Takes the lines that arrived on standard input; False once it is closed."""
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return False
        self.input += chunk
        while b"\n" in self.input:
            line, _, rest = self.input.partition(b"\n")
            self.input = bytearray(rest)
            request = json.loads(line)
            if "cancel" in request:
                self.cancel(request["cancel"])
            else:
                self.waiting.append(request)
        return True

    def read_child(self, child: Child) -> None:
        chunk = os.read(child.fd, 1 << 16)
        if chunk:
            child.buffer += chunk
            while b"\n" in child.buffer:
                line, _, rest = child.buffer.partition(b"\n")
                child.buffer = bytearray(rest)
                payload = json.loads(line)
                child.answered = child.answered or "progress" not in payload
                sys.stdout.write(line.decode() + "\n")
                sys.stdout.flush()
            return
        self.finish(child)

    def finish(self, child: Child) -> None:
        """The child closed its pipe: reap it, and answer for it when it could not."""
        self.selector.unregister(child.fd)
        os.close(child.fd)
        del self.children[child.fd]
        _, status = os.waitpid(child.pid, 0)
        if child.answered:
            return
        job, limits = NOUNS[child.request["job"]], child.request
        if child.timed_out:
            error = stopped(
                f"stopped: the {job} ran past the time limit of {limits['time_limit']:g} s",
                hint="rasp serve --time-limit SECONDS gives jobs longer",
            )
        else:
            code = os.waitstatus_to_exitcode(status)
            cause = _signal_name(-code) if code < 0 else f"exit status {code}"
            error = stopped(
                f"stopped: the {job} ended ({cause}), most likely at the memory limit of "
                f"{_gib(int(limits['memory_limit']))}",
                hint="rasp serve --memory-limit GIB gives jobs more",
            )
        self.send({"id": child.request["id"], "error": error})

    def kill_overdue(self) -> None:
        now = time.monotonic()
        for child in self.children.values():
            if not child.timed_out and now >= child.deadline:
                os.kill(child.pid, signal.SIGKILL)
                child.timed_out = True

    def serve(self) -> None:
        self.selector.register(0, selectors.EVENT_READ)
        reading = True
        while reading or self.children:
            while self.waiting and len(self.children) < MAX_RUNNING:
                self.start(self.waiting.pop(0))
            deadlines = [child.deadline for child in self.children.values() if not child.timed_out]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            for key, _ in self.selector.select(timeout):
                if key.fd == 0:
                    reading = self.read_requests()
                    if not reading:
                        self.selector.unregister(0)
                        for child in self.children.values():
                            os.kill(child.pid, signal.SIGKILL)
                elif key.fd in self.children:
                    self.read_child(self.children[key.fd])
            self.kill_overdue()


def warm_up() -> None:
    """What every child would otherwise do first: import the compiler, the Turing engines and
    the drawing code, and parse the standard library (children inherit it all)."""
    import compiler  # noqa: F401
    import compiler.plot  # noqa: F401
    import rasp.draw  # noqa: F401
    import turing.engines  # noqa: F401
    import turing.harness  # noqa: F401
    import turing.plot  # noqa: F401
    from rasp.session import Session

    Session()
    try:
        import matplotlib.figure  # noqa: F401  (the drawings; the web extra brings it)
    except ImportError:
        pass


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the web server's to handle
    warm_up()
    ForkServer(Path(sys.argv[1]).resolve()).serve()


if __name__ == "__main__":
    main()
