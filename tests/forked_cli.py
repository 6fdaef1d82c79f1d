"""A server that runs `rasp` commands in forked children of one process that has imported the
toolkit (and JAX) once, for the tests that run many commands as separate processes.

Starting a fresh interpreter per command costs about 2 s of imports, most of the hostile
corpus's time. Forking a process that has already imported everything gives each command a
process of its own (its own limits, working directory, environment, exit status, standard
streams) without that cost. JAX is imported but never run here, so no thread pool exists when
the children are forked.

Protocol, one JSON line each way: the request `{"argv", "cwd", "env", "limit", "fsize",
"timeout"}`; the answer `{"returncode", "stdout", "stderr", "timed_out"}`. The child's output goes
to pipes, which a file-size limit does not cover, so only the command's own files are limited.
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

from rasp_toolkit import cli

#: Every command module imported up front, so that no child spends time importing.
cli.build_parser()


def run_child(request: dict) -> None:
    """In the forked child: the limits, the place, then the command, as `python -c` would run it."""
    os.chdir(request["cwd"])
    os.environ.update(request["env"])
    resource.setrlimit(resource.RLIMIT_AS, (request["limit"], request["limit"]))
    if request["fsize"]:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (request["fsize"], request["fsize"]))
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the child's whole life
    try:
        status = cli.main(request["argv"])
    except SystemExit as leaving:
        status = leaving.code
    except BaseException:  # noqa: BLE001 - what an uncaught exception would print
        traceback.print_exc()
        status = 1
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status if isinstance(status, int) else 0 if status is None else 1)


def collect(pid: int, outputs: dict[int, bytearray], timeout: float) -> tuple[int, bool]:
    """Reads the child's pipes to their end and waits for it; kills it past `timeout`."""
    selector = selectors.DefaultSelector()
    for fd in outputs:
        selector.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    timed_out = False
    while selector.get_map():
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            timed_out = True
            break
        for key, _ in selector.select(left):
            chunk = os.read(key.fd, 1 << 16)
            if chunk:
                outputs[key.fd] += chunk
            else:
                selector.unregister(key.fd)
    for fd in outputs:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), timed_out


def serve() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            os.close(out_read)
            os.close(err_read)
            os.dup2(out_write, 1)
            os.dup2(err_write, 2)
            run_child(request)
        os.close(out_write)
        os.close(err_write)
        outputs = {out_read: bytearray(), err_read: bytearray()}
        returncode, timed_out = collect(pid, outputs, request["timeout"])
        answer = {
            "returncode": returncode,
            "stdout": outputs[out_read].decode(errors="replace"),
            "stderr": outputs[err_read].decode(errors="replace"),
            "timed_out": timed_out,
        }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    serve()
