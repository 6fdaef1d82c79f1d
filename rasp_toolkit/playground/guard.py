"""Who may use the playground: the browser of the person who started it, and nobody else.

The server listens on 127.0.0.1 only, but any web page the user visits can make their browser
send requests there, and a DNS-rebinding page can make them look same-origin. So, as Jupyter
does, `rasp serve` prints a URL with a random token; opening it stores the token in a cookie
that is sent only to this server (HttpOnly, SameSite=Strict), and every request must carry it
(the cookie, `?token=` or an `Authorization: token ...` header). On top of that:

- the Host header must name this server (127.0.0.1 or localhost at its port): a rebound DNS
  name is refused even with the cookie;
- an Origin header, when there is one, must be this server's, and a browser that says the
  request is cross-site (Sec-Fetch-Site) is refused: no other page can post programs here.
"""

from __future__ import annotations

import hmac
import html
import json
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

REFUSAL_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>RASP playground: refused</title>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Refused</h1><p>{reason}</p>
<p>Open the address <code>rasp serve</code> printed when it started: it carries the token.</p></body></html>"""


@dataclass(frozen=True)
class Guard:
    """The token and the host names (with the port) this server answers to."""

    token: str
    port: int
    hosts: frozenset[str] = frozenset({"127.0.0.1", "localhost"})

    @property
    def cookie(self) -> str:
        """The cookie's name: cookies are shared by every port of a host, so it names the port."""
        return f"rasp-playground-{self.port}"

    def allowed_host(self, host: str) -> bool:
        return host in {f"{name}:{self.port}" for name in self.hosts}

    def allowed_origin(self, origin: str) -> bool:
        return any(origin == f"http://{name}:{self.port}" for name in self.hosts)

    def has_token(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def refusal(self, headers: dict[str, str], query: dict[str, list[str]]) -> str | None:
        """Why a request with these headers and query is refused, or None when it is allowed."""
        if not self.allowed_host(headers.get("host", "")):
            return f"the request names the host {headers.get('host', '')!r}; this server answers to 127.0.0.1 only"
        origin = headers.get("origin")
        if origin is not None and not self.allowed_origin(origin):
            return f"a request from another site ({origin}) is refused"
        if headers.get("sec-fetch-site") == "cross-site":
            return "a cross-site request is refused"
        if self.token_of(headers, query) is None:
            return "the request carries no valid token"
        return None

    def token_of(self, headers: dict[str, str], query: dict[str, list[str]]) -> str | None:
        """The valid token the request carries (cookie, query or Authorization), else None."""
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header carries no token
            cookies = SimpleCookie()
        authorization = headers.get("authorization", "")
        candidates = [
            cookies[self.cookie].value if self.cookie in cookies else None,
            *(query.get("token") or []),
            authorization[len("token ") :] if authorization.startswith("token ") else None,
        ]
        return next((given for given in candidates if self.has_token(given)), None)


class GuardMiddleware:
    """Refuses (403) every HTTP request `guard` refuses; the page opened as `/?token=T` with the
    right token comes with the cookie, and the page's script then drops the token from the
    address bar (`history.replaceState`), without the round trip a redirect would cost."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        reason = self.guard.refusal(headers, query)
        if reason is not None:
            await _refuse(scope, send, reason)
            return
        if scope["path"] == "/" and query.get("token"):
            cookie = f"{self.guard.cookie}={self.guard.token}; HttpOnly; SameSite=Strict; Path=/".encode()

            async def send_with_cookie(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
                await send(message)

            await self.app(scope, receive, send_with_cookie)
            return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, reason: str) -> None:
    if scope["path"].startswith("/api/"):
        body = json.dumps({"error": {"message": f"refused: {reason}", "stopped": False}}).encode()
        await _respond(send, 403, body, [(b"content-type", b"application/json")])
    else:
        body = REFUSAL_PAGE.format(reason=html.escape(reason)).encode()
        await _respond(send, 403, body, [(b"content-type", b"text/html; charset=utf-8")])


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    start: dict[str, Any] = {
        "type": "http.response.start",
        "status": status,
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})
