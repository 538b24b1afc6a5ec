"""What a runner checks at the handshake, and the token service it may host.

A connection is authorised by a token in ``fal_jwt_token`` (browsers) or an
``Authorization: Key id:secret`` header (server to server).  Failures are
answered by the session layer with the ``Unauthorized`` message and a 1008
close, which a browser can read.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import attrs
import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from warmwire.auth.keys import KeyStore
from warmwire.auth.service import TokenService
from warmwire.auth.tokens import (
    DEFAULT_LEEWAY,
    TokenError,
    TokenIssuer,
    TokenVerifier,
    keys_from_jwks,
    load_signing_key,
    load_verify_key,
)
from warmwire.core.endpoint import Endpoint
from warmwire.core.errors import ConfigurationError


@attrs.frozen(slots=True)
class RunnerAuth:
    """A runner's credentials checks, and its token service when it holds the signing key."""

    keys: KeyStore
    verifier: TokenVerifier | None
    service: TokenService | None

    @classmethod
    def create(
        cls,
        *,
        keys: KeyStore | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        verify_keys: Iterable[Ed25519PublicKey] = (),
        leeway: float = DEFAULT_LEEWAY,
    ) -> RunnerAuth:
        """Combine keys: a signing key both mints and verifies; verify keys only verify."""
        keys = keys or KeyStore()
        public = list(verify_keys)
        service = None
        if signing_key is not None:
            public.insert(0, signing_key.public_key())
            service = TokenService(keys, TokenIssuer(signing_key))
        if not public and not len(keys):
            raise ConfigurationError(
                "auth needs a signing key (--signing-key), a verify key (--verify-key or "
                "--jwks-url) or API keys (--key-file / $WARMWIRE_KEYS)"
            )
        verifier = TokenVerifier(tuple(public), leeway) if public else None
        return cls(keys, verifier, service)

    @classmethod
    def from_files(
        cls,
        *,
        keys: KeyStore | None = None,
        signing_key: str | Path | None = None,
        verify_key: str | Path | None = None,
        jwks_url: str | None = None,
        leeway: float = DEFAULT_LEEWAY,
    ) -> RunnerAuth:
        """Load keys from the CLI's file options (and fetch a JWKS once at start)."""
        verify: list[Ed25519PublicKey] = []
        if verify_key is not None:
            verify.append(load_verify_key(Path(verify_key)))
        if jwks_url is not None:
            response = httpx.get(jwks_url, timeout=10)
            response.raise_for_status()
            verify.extend(keys_from_jwks(response.json()))
        signer = load_signing_key(Path(signing_key)) if signing_key is not None else None
        return cls.create(keys=keys, signing_key=signer, verify_keys=verify, leeway=leeway)

    def check(self, endpoint: Endpoint, token: str | None, authorization: str | None) -> str | None:
        """``None`` when the connection is authorised, else the reason (safe to send)."""
        if authorization is not None:
            if self.keys.verify_header(authorization) is not None:
                return None
            return "invalid API key in the Authorization header"
        if self.verifier is None:
            return "this runner accepts only 'Authorization: Key' credentials"
        try:
            self.verifier.verify(token or "", endpoint)
        except TokenError as exc:
            return str(exc)
        return None
