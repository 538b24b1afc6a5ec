"""Every error warmwire raises, in one place so users can catch by meaning.

Messages name what went wrong *and* what to do about it: an error a user has to
search the source for is a bug.
"""

from __future__ import annotations


class WarmwireError(Exception):
    """Base class of every error raised by warmwire."""


class ConfigurationError(WarmwireError, ValueError):
    """An argument or setting is wrong; raised before any network I/O."""


class InvalidEndpointError(ConfigurationError):
    """An app id, path or URL cannot be parsed."""


class CodecError(WarmwireError):
    """A message could not be encoded or decoded by the session codec."""


class ProtocolError(WarmwireError):
    """The peer broke the WebSocket or HTTP protocol."""


class HandshakeError(WarmwireError):
    """The opening handshake failed: the runner refused the upgrade.

    ``status_code`` and ``body`` are the HTTP response the runner sent, so a
    404 ("no such app") can be told from a 503 ("runner full").
    """

    def __init__(self, message: str, *, status_code: int = 0, body: bytes = b"") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class OpenTimeoutError(WarmwireError, TimeoutError):
    """The runner did not complete the opening handshake within ``open_timeout``.

    A runner that was not warm may still have been starting (a cold start: a
    replica being scheduled, ``setup()`` loading the model); the message says so
    and how to wait longer.  A :class:`TimeoutError`, so ``except TimeoutError``
    still catches it.
    """

    def __init__(self, url: str, timeout: float) -> None:
        super().__init__(
            f"the runner at {url} did not open the connection within open_timeout={timeout:g}s. "
            "It may be a cold start (no warm runner: one is starting and running setup()), "
            "which can take longer: raise open_timeout= (seconds, or None to wait as long "
            "as it takes), or keep a runner warm (min_concurrency >= 1)"
        )
        self.url = url
        self.timeout = timeout


class RealtimeError(WarmwireError):
    """The runner reported an error for this session.

    ``error`` is the wire code (``TIMEOUT``, ``INTERNAL_ERROR``,
    ``INVALID_INPUT``, ``Unauthorized``, ``CONNECTION_CLOSED``) and ``reason``
    the runner's explanation.
    """

    def __init__(self, error: str, reason: str) -> None:
        super().__init__(f"{error}: {reason}")
        self.error = error
        self.reason = reason


class UnauthorizedError(RealtimeError):
    """The runner refused the credentials (missing, expired, forged or wrong app)."""

    def __init__(self, reason: str) -> None:
        super().__init__("Unauthorized", reason)


class ConnectionClosedError(RealtimeError):
    """The connection is over: ``recv()`` raises it when it ended abnormally (anything
    but a normal 1000 close), ``send()`` whenever it has ended.

    ``code`` is the WebSocket close code: 1000 normal, 1001 runner draining
    (reconnect), 1006 connection lost, 1008 policy, 1009 message too big,
    1011 internal; ``close_reason`` the peer's reason.  ``hint`` (in the message
    only) says what to do.
    """

    def __init__(self, code: int, reason: str, *, hint: str = "") -> None:
        message = f"closed with code {code}: {reason or '(no reason given)'}"
        super().__init__("CONNECTION_CLOSED", f"{message}; {hint}" if hint else message)
        self.code = code
        self.close_reason = reason
