"""Every keyword the client takes, said once: :class:`ClientOptions`.

``realtime``, ``realtime_async``, ``connect``, ``connect_async`` and
:class:`~warmwire.client.builder.ConnectionBuilder` all take
``**options: Unpack[ClientOptions]``, and all of them hand the options to the
builder, whose :meth:`~warmwire.client.builder.ConnectionBuilder.resolve` applies
the defaults written here.

Why a ``TypedDict`` and ``Unpack`` (PEP 692) rather than an attrs class or
keyword-only signatures: it is the one form that lists each keyword once and
still types every entry point for mypy, and for IDEs, which complete the
keywords and show the docstrings below.  An attrs options class would hold the
defaults too, but the functions taking keywords would have to repeat its
fields; written-out signatures would repeat all of them five times, which is
how they drifted (``connect_async`` named none).  The credential keywords are
the auth layer's :class:`~warmwire.auth.strategies.CredentialOptions`, which
this set extends.

fal's queue API takes parameters that mean nothing on a realtime connection
(``start_timeout``, ``priority``, ``webhook_url``, ...): they are known here by
name, so passing one says what to use instead rather than "unexpected keyword".
"""

from __future__ import annotations

import difflib
import ssl
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from warmwire.auth.strategies import CredentialOptions, TokenStrategy
from warmwire.codecs.base import Codec
from warmwire.core.errors import ConfigurationError
from warmwire.transports import Transport

MessageEncoder = Callable[[Any], "bytes | str"]
"""Turns an input object into a frame's payload (bytes: binary frame, str: text frame)."""
MessageDecoder = Callable[["bytes | str"], Any]
"""Turns a received frame's payload into a result object."""

DEFAULT_CODEC = "msgpack"
DEFAULT_OPEN_TIMEOUT = 90.0
"""As fal's client: long enough for a cold start (a runner started from zero)."""
DEFAULT_CLOSE_TIMEOUT = 10.0


class ClientOptions(CredentialOptions, total=False):
    """The options of every client entry point; each is optional.

    Credentials (``key``, ``use_jwt``, ``token``, ``token_provider``,
    ``token_expiration``, ``token_url``, ``proxy_url``): at most one source;
    see :class:`~warmwire.auth.strategies.CredentialOptions`.
    """

    url: str | None
    """The runner's base URL (``ws://``, ``wss://``, ``ws+unix://``); default
    ``$WARMWIRE_URL``."""
    path: str
    """The endpoint path within the app; default ``/realtime``."""
    codec: str | Codec
    """How messages are encoded: ``"msgpack"`` (default), ``"json"``, ``"cbor"``, a
    plugin's codec name, or a :class:`~warmwire.codecs.base.Codec`."""
    encode_message: MessageEncoder | None
    """Encode inputs with this callable instead of the codec (as fal-client's)."""
    decode_message: MessageDecoder | None
    """Decode results with this callable instead of the codec (as fal-client's)."""
    max_buffering: int | None
    """Ask the runner to keep at most this many waiting inputs (1..60); default: the
    app's own ``buffering``."""
    auth: TokenStrategy | None
    """A ready-made token strategy; when given, the credential keywords are not used."""
    transport: Transport | None
    """How to reach the runner; default: the built-in transport for the URL's scheme."""
    ssl_context: ssl.SSLContext | None
    """TLS settings for ``wss://`` (a private certificate authority, client
    certificates); default: the system's trust store."""
    max_message_size: int | None
    """Largest message accepted from the runner, in bytes; default 16 MiB, ``None``:
    no limit."""
    open_timeout: float | None
    """Seconds allowed to reach the runner and complete the handshake (a cold start
    included); default 90, as fal's client, ``None``: wait as long as it takes.
    Past it, :class:`~warmwire.core.errors.OpenTimeoutError`."""
    close_timeout: float
    """Seconds to wait for the runner's answer to a close; default 10."""
    raw_path: str | None
    """A request target (``/path?query``) sent as is in place of the app's endpoint
    path, for servers that are not fal runners (an echo server, a conformance suite);
    the runner URL's prefix and credentials still apply."""


_KNOWN = ClientOptions.__required_keys__ | ClientOptions.__optional_keys__

_NO_QUEUE_UPDATES = (
    "there are no queue updates to follow: each result arrives on the connection as soon "
    "as it is ready (recv(), or on_result= with connect())"
)
_NO_RETRIES = (
    "the connection does not resend inputs: send the input again (connect() reconnects on "
    "the next send after the runner closed)"
)

QUEUE_ONLY: Mapping[str, str] = {
    "start_timeout": (
        "to bound the wait for a runner (a cold start included) pass open_timeout= (seconds)"
    ),
    "client_timeout": (
        "bound the opening with open_timeout= and each result with conn.recv(timeout=) "
        "(blocking client) or anyio.fail_after() around await conn.recv()"
    ),
    "priority": "inputs go straight to a warm runner in the order they are sent",
    "webhook_url": (
        "results come back on the connection itself (recv(), or on_result= with connect())"
    ),
    "hint": "the connection goes to the runner at url=; to reach another runner, dial it",
    "with_logs": _NO_QUEUE_UPDATES,
    "on_enqueue": _NO_QUEUE_UPDATES,
    "on_queue_update": _NO_QUEUE_UPDATES,
    "interval": _NO_QUEUE_UPDATES,
    "retry": _NO_RETRIES,
    "retries": _NO_RETRIES,
    "max_retries": _NO_RETRIES,
}
"""Parameters of fal's queue API (``submit``, ``subscribe``, ``run``), each with what to
do instead on a realtime connection."""


def check_option_names(names: Iterable[str]) -> None:
    """Refuse keywords that are not client options, saying what was probably meant.

    A queue parameter raises :class:`ConfigurationError` (it is a known name used in
    the wrong place); anything else is a typo and raises :class:`TypeError`, as an
    unexpected keyword argument does.
    """
    for name in names:
        if name in _KNOWN:
            continue
        if name in QUEUE_ONLY:
            raise ConfigurationError(
                f"{name}= is an option of fal's queue API, and a realtime connection has "
                f"no queue: {QUEUE_ONLY[name]}."
            )
        close = difflib.get_close_matches(name, _KNOWN, n=1)
        hint = (
            f"did you mean {close[0]}=?" if close else f"the options: {', '.join(sorted(_KNOWN))}"
        )
        raise TypeError(f"unknown client option {name}=; {hint}")
