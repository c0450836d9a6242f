"""Which upstream a request goes to, and which headers travel with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from .._extras import require
from .config import ProxyConfig

# RFC 9110 §7.6.1 connection-specific headers, plus the ones the proxy recomputes.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
HEADROOM_PREFIX = b"x-headroom-"
SHARED_PATHS = ("/v1/models", "/v1/files")

Headers = list[tuple[bytes, bytes]]


def provider_for(path: str, headers: Headers) -> str:
    """``"anthropic"`` or ``"openai"``: by path, and by headers for paths both share."""
    if path.startswith(("/v1/messages", "/api/", "/v1/complete")) or path == "/messages":
        return "anthropic"
    if path.startswith(SHARED_PATHS):
        names = {k for k, _ in headers}
        if b"anthropic-version" in names or b"x-api-key" in names:
            return "anthropic"
    return "openai"


def request_headers(headers: Headers) -> tuple[Headers, dict[bytes, bytes]]:
    """(headers to send upstream, consumed ``x-headroom-*`` headers). ``host`` goes (the
    client sets the upstream's), hop-by-hop headers go, everything else stays in order."""
    out: Headers = []
    ours: dict[bytes, bytes] = {}
    for k, v in headers:
        key = k.lower()
        if key.startswith(HEADROOM_PREFIX):
            ours[key] = v
        elif key not in HOP_BY_HOP and key != b"host":
            out.append((key, v))
    return out, ours


def response_headers(headers: Headers, *, body_changed: bool) -> Headers:
    """Upstream response headers for the client: without hop-by-hop ones, and without
    length and encoding when the proxy rewrote the body."""
    drop = HOP_BY_HOP | ({b"content-length", b"content-encoding"} if body_changed else frozenset())
    return [(k.lower(), v) for k, v in headers if k.lower() not in drop]


def with_header(headers: Headers, name: bytes, value: bytes | None) -> Headers:
    """``headers`` with ``name`` replaced (or removed when ``value`` is None)."""
    out = [(k, v) for k, v in headers if k != name]
    if value is not None:
        out.append((name, value))
    return out


class UpstreamError(Exception):
    """The upstream could not be reached or timed out (``timeout`` says which)."""

    def __init__(self, message: str, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class UpstreamResponse:
    """A streamed upstream response: status, raw headers, body chunks as they arrive."""

    def __init__(self, resp: Any) -> None:
        self._resp = resp
        self.status: int = resp.status
        self.headers: Headers = [(k, v) for k, v in resp.raw_headers]

    @property
    def content_type(self) -> str:
        return str(self._resp.headers.get("content-type", ""))

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in self._resp.content.iter_any():
            yield chunk

    async def read(self) -> bytes:
        return bytes(await self._resp.read())

    def close(self) -> None:
        """Closes the connection unless the body was read to the end (then it is reused)."""
        self._resp.release() if self._resp.content.at_eof() else self._resp.close()


class UpstreamClient:
    """A pooled aiohttp session that changes nothing: no default headers, no cookies,
    no redirects, no decompression, the URL sent exactly as given."""

    def __init__(self, config: ProxyConfig) -> None:
        self.aiohttp = require("aiohttp", "proxy")
        self.yarl = require("yarl", "proxy")
        self.config = config
        self._session: Any = None

    def session(self) -> Any:
        if self._session is None:
            aiohttp = self.aiohttp
            cfg = self.config
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=cfg.connect_timeout,
                    sock_read=cfg.timeout,
                ),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, method: str, url: str, headers: Headers, body: Any) -> UpstreamResponse:
        hdrs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
        try:
            resp = await self.session().request(
                method,
                self.yarl.URL(url, encoded=True),
                headers=hdrs,
                data=body if body else None,
                allow_redirects=False,
            )
        except asyncio.TimeoutError as exc:
            raise UpstreamError("upstream timed out", timeout=True) from exc
        except (self.aiohttp.ClientError, OSError) as exc:
            raise UpstreamError(f"upstream unreachable ({type(exc).__name__})") from exc
        return UpstreamResponse(resp)
