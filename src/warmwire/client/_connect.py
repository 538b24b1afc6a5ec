"""The errors a client raises when it cannot open a connection to a runner."""

from __future__ import annotations

import ssl

from warmwire.core.endpoint import RunnerUrl
from warmwire.core.errors import HandshakeError, OpenTimeoutError


def unreachable(url: RunnerUrl, exc: OSError) -> HandshakeError:
    """Say why the runner could not be reached, and what to do about it.

    A certificate the client does not trust is not a runner that is down:
    the fix is a trust setting, not the URL.
    """
    where = _where(url)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return HandshakeError(
            f"TLS certificate verify failed for the runner at {where}: "
            f"{exc.verify_message or exc}; pass ssl_context= an ssl.SSLContext that trusts "
            "the runner's certificate authority, or give the runner a certificate for this host."
        )
    return HandshakeError(
        f"cannot reach the runner at {where}: {exc}; is it running, and is the URL right?"
    )


def open_timed_out(url: RunnerUrl, timeout: float) -> OpenTimeoutError:
    """``open_timeout`` ran out before the runner answered the upgrade (maybe a cold start)."""
    return OpenTimeoutError(_where(url), timeout)


def _where(url: RunnerUrl) -> str:
    return f"{url.scheme}://{url.unix_path or url.host_header}"
