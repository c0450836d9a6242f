"""Which upstream a request goes to, and which headers travel with it."""

from __future__ import annotations

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


def upstream_url(config: ProxyConfig, provider: str, raw_path: bytes, query: bytes) -> str:
    base = config.anthropic_url if provider == "anthropic" else config.openai_url
    path = raw_path.decode("latin-1")
    if path == "/chat/completions":
        path = "/v1/chat/completions"
    url = base.rstrip("/") + path
    return f"{url}?{query.decode('latin-1')}" if query else url


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
