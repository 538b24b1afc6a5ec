"""What a runner checks at the handshake, and the token service it may host.

A connection is authorised by a token in ``fal_jwt_token`` (browsers) or an
``Authorization: Key id:secret`` header (server to server), held to the key's
scope.  Failures are answered by the session layer with the ``Unauthorized``
message and a 1008 close, which a browser can read.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import attrs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from warmwire.auth.jwks_source import DEFAULT_MAX_AGE, DEFAULT_MIN_INTERVAL, JwksSource, fetch_jwks
from warmwire.auth.keys import KeyStore
from warmwire.auth.mint_budget import DEFAULT_MINT_RATE, MintBudget
from warmwire.auth.rotation import rotation_public_keys
from warmwire.auth.service import TokenService
from warmwire.auth.tokens import (
    DEFAULT_LEEWAY,
    TokenError,
    TokenIssuer,
    TokenVerifier,
    key_id_of,
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
    jwks: JwksSource | None = None
    """Where the verify keys come from when they are fetched (``--jwks-url``)."""

    @classmethod
    def create(
        cls,
        *,
        keys: KeyStore | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        verify_keys: Iterable[Ed25519PublicKey] = (),
        leeway: float = DEFAULT_LEEWAY,
        rotation_keys: Iterable[Ed25519PublicKey] = (),
        jwks: JwksSource | None = None,
        mint_rate: int = DEFAULT_MINT_RATE,
    ) -> RunnerAuth:
        """Combine keys: a signing key both mints and verifies; verify keys only verify.

        ``rotation_keys`` (the next signing key, retired ones) are published in the
        token service's JWKS and verified too.  Tokens naming a bare alias are honoured
        only when issued before now (see :attr:`TokenVerifier.alias_tokens_before`).
        ``mint_rate``: tokens per minute a key may mint unless its line says otherwise.
        """
        keys = keys or KeyStore()
        rotation = list(rotation_keys)
        public = list(verify_keys)
        service = None
        if signing_key is not None:
            public = [signing_key.public_key(), *rotation, *public]
            service = TokenService(
                keys,
                TokenIssuer(signing_key),
                published=tuple(rotation),
                budget=MintBudget(mint_rate),
            )
        else:
            public.extend(rotation)
        if not public and not len(keys):
            raise ConfigurationError(
                "auth needs a signing key (--signing-key), a verify key (--verify-key or "
                "--jwks-url) or API keys (--key-file / $WARMWIRE_KEYS)"
            )
        verifier = None
        if public:
            # Whole seconds, as ``iat`` is: a token from this second is not from before.
            started = float(int(time.time()))
            verifier = TokenVerifier(tuple(public), leeway, alias_tokens_before=started)
        return cls(keys, verifier, service, jwks)

    @classmethod
    def from_files(
        cls,
        *,
        keys: KeyStore | None = None,
        signing_key: str | Path | None = None,
        verify_key: str | Path | None = None,
        jwks_url: str | None = None,
        leeway: float = DEFAULT_LEEWAY,
        jwks_min_interval: float = DEFAULT_MIN_INTERVAL,
        jwks_max_age: float = DEFAULT_MAX_AGE,
        mint_rate: int = DEFAULT_MINT_RATE,
    ) -> RunnerAuth:
        """Load keys from the CLI's file options (and fetch a JWKS at start).

        Next to ``signing_key``, the files ``warmwire keys rotate`` writes
        (``PATH.next``, ``PATH.previous.pub``) are published and verified too.
        """
        verify: list[Ed25519PublicKey] = []
        if verify_key is not None:
            verify.append(load_verify_key(Path(verify_key)))
        signer = None
        rotation: list[Ed25519PublicKey] = []
        if signing_key is not None:
            signer = load_signing_key(Path(signing_key))
            rotation = rotation_public_keys(Path(signing_key))
        source = None
        if jwks_url is not None:
            fixed = [*verify, *rotation]
            if signer is not None:
                fixed.append(signer.public_key())
            verify.extend(fetch_jwks(jwks_url))
            source = JwksSource(
                jwks_url,
                time.monotonic(),
                fixed=tuple(fixed),
                min_interval=jwks_min_interval,
                max_age=jwks_max_age,
            )
        return cls.create(
            keys=keys,
            signing_key=signer,
            verify_keys=verify,
            leeway=leeway,
            rotation_keys=rotation,
            jwks=source,
            mint_rate=mint_rate,
        )

    def check(self, endpoint: Endpoint, token: str | None, authorization: str | None) -> str | None:
        """``None`` when the connection is authorised, else the reason (safe to send)."""
        if authorization is not None:
            key_id = self.keys.verify_header(authorization)
            if key_id is None:
                return "invalid API key in the Authorization header"
            scope = self.keys.scope(key_id)
            if not scope.allows(endpoint.app_id):
                return (
                    f"API key {key_id!r} may not open app {endpoint.app_id!r} "
                    f"(its scope: {scope.describe()})"
                )
            return None
        if self.verifier is None:
            return "this runner accepts only 'Authorization: Key' credentials"
        try:
            self.verifier.verify(token or "", endpoint)
        except TokenError as exc:
            return str(exc)
        return None

    async def check_async(
        self, endpoint: Endpoint, token: str | None, authorization: str | None
    ) -> str | None:
        """:meth:`check`, fetching the JWKS again first when it may have changed.

        With ``--jwks-url``: when the copy held is older than its max age, or the token
        names a key not held (at most one fetch per interval).  Otherwise as :meth:`check`.
        """
        source, verifier = self.jwks, self.verifier
        if source is None or verifier is None or authorization is not None:
            return self.check(endpoint, token, authorization)
        if source.stale():
            await self._refresh(source, verifier)
        try:
            verifier.verify(token or "", endpoint)
        except TokenError as exc:
            if not (exc.unknown_key and source.may_refresh()):
                return str(exc)
            await self._refresh(source, verifier)
            return self.check(endpoint, token, authorization)
        return None

    @staticmethod
    async def _refresh(source: JwksSource, verifier: TokenVerifier) -> None:
        keys = await source.refresh()
        if keys is not None and {key_id_of(k) for k in keys} != verifier.kids:
            verifier.replace_keys(keys)
