"""The error a client raises when it cannot open the byte stream to a runner."""

from __future__ import annotations

import ssl

from warmwire.core.endpoint import RunnerUrl
from warmwire.core.errors import HandshakeError


def unreachable(url: RunnerUrl, exc: OSError) -> HandshakeError:
    """Say why the runner could not be reached, and what to do about it.

    A certificate the client does not trust is not a runner that is down:
    the fix is a trust setting, not the URL.
    """
    where = f"{url.scheme}://{url.unix_path or url.host_header}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return HandshakeError(
            f"TLS certificate verify failed for the runner at {where}: "
            f"{exc.verify_message or exc}; pass ssl_context= an ssl.SSLContext that trusts "
            "the runner's certificate authority, or give the runner a certificate for this host."
        )
    return HandshakeError(
        f"cannot reach the runner at {where}: {exc}; is it running, and is the URL right?"
    )
