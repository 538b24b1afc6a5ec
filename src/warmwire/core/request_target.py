"""The request target's realtime parameters: building them (client) and checking them (runner).

The query string carries ``fal_jwt_token`` and ``max_buffering``; a raw path
(``ConnectionBuilder(raw_path=...)``) is sent as is.  The opening handshake's
headers (subprotocols among them) are :mod:`warmwire.core.handshake_headers`.
"""

from __future__ import annotations

import urllib.parse

import attrs

from warmwire.core.errors import ConfigurationError

TOKEN_PARAM = "fal_jwt_token"
BUFFERING_PARAM = "max_buffering"
MIN_BUFFERING = 1
MAX_BUFFERING = 60


def check_max_buffering(value: object) -> int:
    """Validate a ``max_buffering`` value (an int, or its decimal text).

    Raises :class:`ConfigurationError` naming the accepted range.
    """
    if isinstance(value, bool):
        value = repr(value)
    if isinstance(value, str):
        text = value.strip()
        number = int(text) if text.isascii() and text.isdigit() else None
    elif isinstance(value, int):
        number = value
    else:
        number = None
    if number is None or not MIN_BUFFERING <= number <= MAX_BUFFERING:
        raise ConfigurationError(
            f"max_buffering must be an integer from {MIN_BUFFERING} to {MAX_BUFFERING}, "
            f"got {value!r}."
        )
    return number


def check_raw_path(path: str) -> str:
    """Validate a request target sent as is (``ConnectionBuilder(raw_path=...)``).

    It must be origin-form (``/path[?query]``) in visible ASCII: anything else
    would be refused by the HTTP layer at connect time, far from the mistake.
    """
    if not path.startswith("/") or "#" in path or not all("!" <= c <= "~" for c in path):
        raise ConfigurationError(
            f"raw_path must be a request target such as '/runCase?case=1' (starting with '/', "
            f"visible ASCII, percent-encode anything else, no '#'), got {path!r}."
        )
    return path


@attrs.frozen(slots=True)
class RequestTarget:
    """A parsed request target: path plus the realtime query parameters."""

    path: str
    token: str | None = None
    max_buffering: int | None = None
    query: tuple[tuple[str, str], ...] = ()


def build_target(path: str, *, token: str | None = None, max_buffering: int | None = None) -> str:
    """Build the request target ``path?fal_jwt_token=…&max_buffering=N``.

    ``path`` may carry a query of its own; the parameters are appended to it.
    """
    params: list[tuple[str, str]] = []
    if token is not None:
        params.append((TOKEN_PARAM, token))
    if max_buffering is not None:
        params.append((BUFFERING_PARAM, str(check_max_buffering(max_buffering))))
    if not params:
        return path
    return f"{path}{'&' if '?' in path else '?'}{urllib.parse.urlencode(params)}"


def parse_target(target: str) -> RequestTarget:
    """Parse a request target; a bad ``max_buffering`` raises :class:`ConfigurationError`."""
    split = urllib.parse.urlsplit(target)
    query = tuple(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
    values = dict(query)
    buffering = values.get(BUFFERING_PARAM)
    return RequestTarget(
        path=urllib.parse.unquote(split.path) or "/",
        token=values.get(TOKEN_PARAM),
        max_buffering=None if buffering is None else check_max_buffering(buffering),
        query=query,
    )
