"""The playground's web application (Starlette): the page, its static files and the JSON API
the page calls (docs/playground.md lists it). Every evaluation, drawing, compile and Turing run
is a job of the worker process (`playground.workers`); this process only routes, guards
(`playground.guard`) and serves files, so a runaway program never stops the server.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from rasp.errors import RaspError, UsageError
from rasp.session import read_source
from rasp.shipped import programs_dir
from rasp_toolkit.playground.famous import FAMOUS
from rasp_toolkit.playground.guard import Guard, GuardMiddleware
from rasp_toolkit.playground.jobs import MAX_SOURCE, error_json
from rasp_toolkit.playground.workers import JobFailed, Limits, Workers

STATIC = Path(__file__).resolve().parent / "static"
INITIAL_MARK = "<!-- the first program -->"
"""Where index.html takes the first program and its values (`create_app`'s `index`)."""
MAX_BODY = 2 << 20
"""The largest request body taken (bytes): a program of a megabyte and its input."""
MAX_SERVED_PROGRAMS = 200
"""The most files of the served folder the library lists."""
SERVED_DEPTH = 2
"""How many folders below the served one the library looks for programs."""
SKIPPED = frozenset({"node_modules", "site-packages", "__pycache__"})
DOWNLOADS = ("model.npz", "model.safetensors")
DISCONNECT_POLL = 0.1
"""Seconds between two looks at whether the page still waits for a job."""
HEADERS = {
    # the page loads nothing from elsewhere, and no other site may frame it
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


@dataclass
class Settings:
    """What `rasp serve` was started with: the folder it serves (where `load` may read), the
    program to show first, the token, the port and the jobs' limits: `limits` for evaluations
    and drawings, `compile_time_limit` seconds for compiles and Turing machine runs."""

    root: Path
    port: int
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    initial: Path | None = None
    limits: Limits = field(default_factory=Limits)
    compile_time_limit: float = 120.0


def library(root: Path) -> dict[str, tuple[str, Path]]:
    """The programs the page's picker lists, by name: the shipped library, examples and
    standard library, then the served folder's `.rasp` files (names starting `served:`)."""
    shipped = programs_dir()
    found: dict[str, tuple[str, Path]] = {}
    for group, pattern in (("library", "lib/*.rasp"), ("examples", "examples/*.rasp")):
        for path in sorted(shipped.glob(pattern)):
            found[path.relative_to(shipped).as_posix()] = (group, path)
    found["stdlib.rasp"] = ("standard library", shipped / "stdlib.rasp")
    for path in served_programs(root):
        found[f"served:{path.relative_to(root).as_posix()}"] = ("served folder", path)
    return found


def served_programs(root: Path) -> list[Path]:
    """The served folder's `.rasp` files, up to SERVED_DEPTH folders down (the page lists them at
    every load, and the folder may be a home directory), hidden and installed folders left out."""
    found: list[Path] = []
    for depth in range(SERVED_DEPTH + 1):
        for path in sorted(root.glob("/".join(["*"] * depth + ["*.rasp"]))):
            inside = path.relative_to(root).parts[:-1]
            if path.is_file() and not any(part.startswith(".") or part in SKIPPED for part in inside):
                found.append(path)
                if len(found) == MAX_SERVED_PROGRAMS:
                    return found
    return found


def suggested_input(path: Path) -> str:
    """An input for a program: eight tokens of a library program's alphabet (its header says
    which, and whether they must be distinct), else the REPL's running example, "hello"."""
    from rasp.programs import read_program

    if path.parent.resolve() != (programs_dir() / "lib").resolve():
        return "hello"
    try:
        program = read_program(path)
    except RaspError:
        return "hello"
    rng = random.Random(0)
    alphabet = list(program.alphabet)
    if program.inputs == "distinct":
        tokens = rng.sample(alphabet, min(8, len(alphabet)))
    else:
        tokens = [rng.choice(alphabet) for _ in range(8)]
    if any(not isinstance(token, str) for token in tokens):
        return json.dumps(tokens)
    return "".join(tokens) if all(len(token) == 1 for token in tokens) else " ".join(tokens)


def program_json(name: str, path: Path) -> dict[str, Any]:
    """A program file as the page opens it; a UsageError when it is too large or not UTF-8 text
    (the served folder's files are the user's, not ours)."""
    return {"name": name, "source": program_text(path), "input": suggested_input(path)}


def program_text(path: Path) -> str:
    """The text of a program the page may open, read only when it is small enough to edit."""
    try:
        size = path.stat().st_size
    except OSError as problem:
        raise UsageError(f"cannot open {path}: {problem.strerror}") from None
    if size > MAX_SOURCE:
        raise UsageError(f"cannot open {path}: it has {size:,} bytes; the playground opens at most {MAX_SOURCE:,}")
    return read_source(path, "open", UsageError)


def error_response(message: str, status: int, hint: str | None = None) -> JSONResponse:
    error = {"message": message, "hint": hint, "line": None, "column": None, "stopped": False}
    return JSONResponse({"error": error}, status_code=status, headers=HEADERS)


async def request_json(request: Request) -> dict[str, Any] | Response:
    """The request's JSON object, or the response refusing it (too large, not an object)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        return error_response(f"the request is larger than {MAX_BODY:,} bytes", 413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return error_response(f"the request is larger than {MAX_BODY:,} bytes", 413)
    if not request.headers.get("content-type", "").startswith("application/json"):
        return error_response("the request must be JSON (Content-Type: application/json)", 415)
    try:
        payload = json.loads(body)
    except ValueError:
        return error_response("the request is not valid JSON", 400)
    except RecursionError:
        return error_response("the request nests deeper than the playground reads", 400)
    if not isinstance(payload, dict):
        return error_response("the request must be a JSON object", 400)
    return payload


def create_app(settings: Settings) -> Starlette:
    """The application `rasp serve` runs (and the tests call through Starlette's TestClient)."""
    workers = Workers(settings.root, settings.limits)
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    downloads = Path(tempfile.mkdtemp(prefix="rasp-playground-"))

    async def job_response(
        request: Request, job: str, args: dict[str, Any], time_limit: float | None = None
    ) -> Response:
        """The job's answer; the job is killed as soon as the page stops waiting for it (the
        page cancels the evaluation of text it has since edited, a runaway one included)."""
        running = asyncio.ensure_future(workers.run(job, args, time_limit))
        while not running.done():
            await asyncio.wait({running}, timeout=DISCONNECT_POLL)
            if not running.done() and await request.is_disconnected():
                running.cancel()  # `Workers.stream` then tells the worker process to kill the child
                return Response(status_code=499)
        try:
            result = running.result()
        except JobFailed as failure:
            return JSONResponse({"error": failure.error}, status_code=422, headers=HEADERS)
        return JSONResponse(result, headers=HEADERS)

    def posting(job: str, time_limit: float | None = None) -> Any:
        async def endpoint(request: Request) -> Response:
            payload = await request_json(request)
            if isinstance(payload, Response):
                return payload
            return await job_response(request, job, payload, time_limit)

        return endpoint

    async def first_program() -> dict[str, Any]:
        """The program shown first, with its values (`evaluation`, as /api/evaluate answers), or
        the `error` that stopped its evaluation."""
        path = settings.initial or programs_dir() / "examples" / "hello.rasp"
        name = f"served:{path.relative_to(settings.root).as_posix()}" if settings.initial else "examples/hello.rasp"
        try:
            shown = program_json(name, path)
        except UsageError as problem:  # the file changed since `rasp serve` read it
            return {"name": name, "source": "", "input": "", "error": error_json(problem)}
        try:
            shown["evaluation"] = await workers.run("evaluate", {"source": shown["source"], "input": shown["input"]})
        except JobFailed as failure:
            shown["error"] = failure.error
        return shown

    async def index(request: Request) -> Response:
        """The page, with the first program and its values inside it (a JSON data block, which
        no browser runs): the page shows them without a request of its own."""
        data = json.dumps(await first_program()).replace("<", "\\u003c")  # no `</script>` inside
        block = f'<script type="application/json" id="initial-program">{data}</script>'
        return HTMLResponse(page.replace(INITIAL_MARK, block), headers=HEADERS)

    async def initial(request: Request) -> Response:
        shown = await first_program()
        if "error" in shown:
            return JSONResponse({"error": shown["error"]}, status_code=422, headers=HEADERS)
        return JSONResponse(shown, headers=HEADERS)

    async def listing(request: Request) -> Response:
        programs = [{"name": name, "group": group} for name, (group, _) in library(settings.root).items()]
        return JSONResponse({"programs": programs}, headers=HEADERS)

    async def program(request: Request) -> Response:
        name = request.query_params.get("name", "")
        found = library(settings.root).get(name)
        if found is None:
            return error_response(f"no program named {name!r} in the library or the served folder", 404)
        try:
            return JSONResponse(program_json(name, found[1]), headers=HEADERS)
        except UsageError as problem:
            return JSONResponse({"error": error_json(problem)}, status_code=422, headers=HEADERS)

    async def famous(request: Request) -> Response:
        return JSONResponse({"machines": [machine.json() for machine in FAMOUS]}, headers=HEADERS)

    async def compile_endpoint(request: Request) -> Response:
        payload = await request_json(request)
        if isinstance(payload, Response):
            return payload
        job = secrets.token_hex(8)
        args = {**payload, "out": str(downloads / job)}
        response = await job_response(request, "compile", args, settings.compile_time_limit)
        if response.status_code == 200:
            result = json.loads(response.body)
            result["downloads"] = {name.split(".")[-1]: f"/api/download/{job}/{name}" for name in result.pop("files")}
            return JSONResponse(result, headers=HEADERS)
        return response

    async def download(request: Request) -> Response:
        job, name = request.path_params["job"], request.path_params["name"]
        path = downloads / job / name
        if not re.fullmatch(r"[0-9a-f]{16}", job) or name not in DOWNLOADS or not path.is_file():
            return error_response("no such model file (models are kept while the server runs)", 404)
        return FileResponse(path, filename=name, headers=HEADERS)

    async def verify(request: Request) -> Response:
        payload = await request_json(request)
        if isinstance(payload, Response):
            return payload

        async def lines() -> AsyncIterator[bytes]:
            try:
                async for answer in workers.stream("turing_verify", payload, settings.compile_time_limit):
                    answer.pop("id", None)
                    yield (json.dumps(answer.get("progress") or answer) + "\n").encode()
            except JobFailed as failure:
                yield (json.dumps({"error": failure.error}) + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson", headers=HEADERS)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await workers.start()
        try:
            yield
        finally:
            await workers.close()
            shutil.rmtree(downloads, ignore_errors=True)

    routes = [
        Route("/", index),
        Route("/api/initial", initial),
        Route("/api/library", listing),
        Route("/api/program", program),
        Route("/api/famous", famous),
        Route("/api/evaluate", posting("evaluate"), methods=["POST"]),
        Route("/api/draw", posting("draw"), methods=["POST"]),
        Route("/api/compile", compile_endpoint, methods=["POST"]),
        Route("/api/download/{job}/{name}", download),
        Route("/api/turing/run", posting("turing_run", settings.compile_time_limit), methods=["POST"]),
        Route("/api/turing/attention", posting("turing_attention", settings.compile_time_limit), methods=["POST"]),
        Route("/api/turing/verify", verify, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    guard = Guard(settings.token, settings.port)
    app = Starlette(routes=routes, middleware=[Middleware(GuardMiddleware, guard=guard)], lifespan=lifespan)
    app.state.workers = workers  # for the tests, which stop the worker process from outside
    return app
