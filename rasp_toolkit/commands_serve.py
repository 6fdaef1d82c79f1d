"""`rasp serve`: the playground, a local web page to write, watch, compile and run RASP programs
and Turing machines (docs/playground.md). This module parses the arguments, binds the socket,
prints the address with its token and runs the application (`rasp_toolkit.playground`) under
uvicorn; the web stack is the optional extra `web`, imported only here."""

from __future__ import annotations

import argparse
import secrets
import socket
import sys
import webbrowser
from pathlib import Path
from typing import Any

from rasp.errors import UsageError

DEFAULT_PORT = 8765
HOST = "127.0.0.1"


def register(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="open the playground: write, watch, compile and run programs in the browser (needs the web extra)",
        description="Serve the RASP playground on 127.0.0.1 and open it in the browser. The address carries a "
        "random token; only a browser that opened it may use the server.",
    )
    serve.add_argument("file", nargs="?", metavar="FILE", help="a .rasp file to open first (inside the served folder)")
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"the port (default {DEFAULT_PORT}; 0: any free one)"
    )
    serve.add_argument("--no-browser", action="store_true", help="print the address, do not open a browser")
    serve.add_argument(
        "--root", metavar="DIR", default=".",
        help="the folder served: the programs' `load` reads only inside it (default: the working folder)",
    )
    serve.add_argument(
        "--time-limit", type=float, default=10.0, metavar="SECONDS",
        help="stop an evaluation or drawing after this long (default 10)",
    )
    serve.add_argument(
        "--compile-time-limit", type=float, default=120.0, metavar="SECONDS",
        help="stop a compile or a Turing machine run after this long (default 120)",
    )
    serve.add_argument(
        "--memory-limit", type=float, default=3.0, metavar="GIB",
        help="the address space each job may take, in GiB (default 3)",
    )
    serve.add_argument("--token", help="the token the address carries (default: a random one)")
    serve.set_defaults(handler=command_serve)


def _listening_socket(port: int) -> socket.socket:
    """A socket bound to 127.0.0.1:`port`, listening (port 0: one the system picks)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as error:
        sock.close()
        raise UsageError(
            f"cannot listen on {HOST}:{port}: {error.strerror}", hint="pass --port 0 to take any free port"
        ) from None
    sock.listen(64)
    return sock


def _settings(args: argparse.Namespace, port: int) -> Any:
    from rasp_toolkit.playground.app import Settings, program_text
    from rasp_toolkit.playground.workers import Limits

    root = Path(args.root).resolve()
    if not root.is_dir():
        raise UsageError(f"--root {args.root}: no such folder")
    initial = None
    if args.file is not None:
        initial = Path(args.file).resolve()
        if not initial.is_file():
            raise UsageError(f"{args.file}: no such file")
        if not initial.is_relative_to(root):
            raise UsageError(f"{args.file} is outside the served folder {root}", hint="pass --root DIR")
        program_text(initial)  # a binary or huge file is refused now, not on every page load
    for value, option in ((args.time_limit, "--time-limit"), (args.compile_time_limit, "--compile-time-limit")):
        if not 0 < value <= 3600:
            raise UsageError(f"{option} must be from 0 to 3600 seconds, not {value:g}")
    if not 0.25 <= args.memory_limit <= 1024:
        raise UsageError(f"--memory-limit must be from 0.25 to 1024 GiB, not {args.memory_limit:g}")
    token = args.token or secrets.token_urlsafe(24)
    limits = Limits(args.time_limit, int(args.memory_limit * (1 << 30)))
    return Settings(root, port, token, initial, limits, args.compile_time_limit)


def command_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from rasp_toolkit.playground.app import create_app
    except ImportError as error:
        raise UsageError(
            f"rasp serve needs the web extra ({error.name} is not installed)",
            hint="pip install 'rasp-toolkit[web]'",
        ) from None
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535, not {args.port}")
    sock = _listening_socket(args.port)
    try:
        settings = _settings(args, sock.getsockname()[1])
    except UsageError:
        sock.close()
        raise
    port = settings.port
    url = f"http://{HOST}:{port}/?token={settings.token}"
    print(url, flush=True)
    print("the RASP playground; Ctrl-C stops it", file=sys.stderr)
    if not args.no_browser:
        webbrowser.open(url)
    config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
    return 0
