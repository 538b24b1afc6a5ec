"""Short-lived realtime tokens: EdDSA (Ed25519) JWTs, minted and verified.

Runners need only the public key to verify, so any runner behind a load
balancer accepts any client's token and holds no shared state.  The algorithm
is pinned to EdDSA: ``alg: none`` and HMAC-with-the-public-key tokens fail.
"""

from __future__ import annotations

import fnmatch
import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from warmwire.auth.keys import is_pattern
from warmwire.auth.refusals import RefusalCache
from warmwire.core.endpoint import Endpoint
from warmwire.core.errors import ConfigurationError

ALGORITHM = "EdDSA"
DEFAULT_LEEWAY = 5.0
MAX_LIFETIME = 3600
"""The longest token (``exp - iat``) a runner accepts: the token service's own maximum."""


class TokenError(Exception):
    """A token was refused; ``str()`` is safe to show the client (no token text in it).

    ``lasting`` is false for a refusal that time may lift ("not yet valid"):
    only lasting refusals are remembered (see :class:`RefusalCache`).
    ``unknown_key`` is true when the token names (``kid``) a key the verifier
    does not hold: a runner verifying through a JWKS then fetches it again.
    """

    def __init__(self, reason: str, *, lasting: bool = True, unknown_key: bool = False) -> None:
        super().__init__(reason)
        self.lasting = lasting
        self.unknown_key = unknown_key


def generate_signing_key() -> bytes:
    """A new Ed25519 private key as PEM (``warmwire keys generate``)."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_signing_key(pem: bytes | str | Path) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from PEM bytes or a PEM file."""
    data = Path(pem).read_bytes() if isinstance(pem, Path) else _as_bytes(pem)
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(
            "the signing key must be an Ed25519 private key; create one with "
            "'warmwire keys generate'"
        )
    return key


def load_verify_key(pem: bytes | str | Path) -> Ed25519PublicKey:
    """Load an Ed25519 public key from PEM bytes or a PEM file."""
    data = Path(pem).read_bytes() if isinstance(pem, Path) else _as_bytes(pem)
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigurationError("the verify key must be an Ed25519 public key (PEM)")
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The public half as PEM, for ``--verify-key``."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def jwks(*keys: Ed25519PublicKey) -> dict[str, Any]:
    """A JWKS document for ``/.well-known/jwks.json``."""
    entries = []
    for key in keys:
        jwk = json.loads(OKPAlgorithm.to_jwk(key))
        jwk.update({"alg": ALGORITHM, "use": "sig", "kid": key_id_of(key)})
        entries.append(jwk)
    return {"keys": entries}


def keys_from_jwks(document: dict[str, Any]) -> list[Ed25519PublicKey]:
    """The Ed25519 keys of a JWKS document."""
    found = []
    for entry in document.get("keys", []):
        if entry.get("kty") == "OKP" and entry.get("crv") == "Ed25519":
            key = OKPAlgorithm.from_jwk(entry)
            if isinstance(key, Ed25519PublicKey):
                found.append(key)
    if not found:
        raise ConfigurationError("the JWKS holds no Ed25519 key")
    return found


def key_id_of(key: Ed25519PublicKey) -> str:
    """The key's ``kid``: the first 8 bytes of its raw public key, in hex."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw[:8].hex()


@attrs.frozen(slots=True)
class TokenIssuer:
    """Mints tokens with the private key."""

    key: Ed25519PrivateKey = attrs.field(repr=False)

    def mint(self, subject: str, allowed_apps: Sequence[str], expires_in: float) -> str:
        now = int(time.time())
        claims = {
            "sub": subject,
            "allowed_apps": list(allowed_apps),
            "iat": now,
            "nbf": now,
            "exp": now + int(expires_in),
            "jti": uuid.uuid4().hex,
        }
        headers = {"kid": key_id_of(self.key.public_key())}
        return jwt.encode(claims, self.key, algorithm=ALGORITHM, headers=headers)


@attrs.define(eq=False)
class TokenVerifier:
    """Verifies tokens with public keys only.

    A token whose header names its key (``kid``) is checked with that key; one
    naming a key not held is refused as such (not remembered, so a refreshed
    key set can accept it); one without ``kid`` is tried with every key.
    """

    keys: tuple[Ed25519PublicKey, ...] = attrs.field(repr=False)
    leeway: float = DEFAULT_LEEWAY
    refused: RefusalCache = attrs.field(factory=RefusalCache, repr=False, kw_only=True)
    """Recent lasting refusals: a repeated bad token skips the signature check."""
    alias_tokens_before: float | None = attrs.field(default=None, kw_only=True)
    """Bare-alias ``allowed_apps`` entries (tokens minted before scoped keys) are honoured
    only in tokens issued (``iat``) before this time (seconds since the epoch); ``None``:
    never.  The token service no longer mints them, so none is issued after the upgrade."""
    max_lifetime: float | None = attrs.field(default=MAX_LIFETIME, kw_only=True)
    """Tokens valid for longer (``exp - iat``, seconds) are refused: none is minted so."""
    _by_kid: dict[str, Ed25519PublicKey] = attrs.field(init=False, factory=dict, repr=False)

    def __attrs_post_init__(self) -> None:
        self._by_kid = {key_id_of(key): key for key in self.keys}

    @property
    def kids(self) -> frozenset[str]:
        """The ``kid`` of every key held."""
        return frozenset(self._by_kid)

    def replace_keys(self, keys: Sequence[Ed25519PublicKey]) -> None:
        """Verify with ``keys`` from now on (a refreshed JWKS); forget remembered refusals."""
        self.keys = tuple(keys)
        self._by_kid = {key_id_of(key): key for key in self.keys}
        self.refused = RefusalCache(self.refused.size, self.refused.ttl, self.refused.clock)

    def verify(self, token: str, endpoint: Endpoint) -> dict[str, Any]:
        """The claims of a token valid now for ``endpoint``; else :class:`TokenError`."""
        reason = self.refused.get(token, endpoint)
        if reason is not None:
            raise TokenError(reason)
        try:
            return self._verify(token, endpoint)
        except TokenError as exc:
            if exc.lasting:
                self.refused.add(token, endpoint, str(exc))
            raise

    def _verify(self, token: str, endpoint: Endpoint) -> dict[str, Any]:
        if not token:
            raise TokenError("missing token: connect with ?fal_jwt_token=<token> from your backend")
        if not token.isascii():
            # A JWT is base64url and dots; anything else (a lone surrogate would make
            # PyJWT raise UnicodeEncodeError) is refused here as malformed.
            raise TokenError("malformed token: not ASCII")
        kid = _kid(token)
        known = self._by_kid.get(kid) if kid is not None else None
        for key in (known,) if known is not None else self.keys:
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=[ALGORITHM],
                    leeway=self.leeway,
                    options={"require": ["exp", "iat", "sub", "allowed_apps"]},
                )
                break
            except jwt.InvalidSignatureError:
                continue  # maybe signed by another of our keys (rotation)
            except jwt.ExpiredSignatureError:
                raise TokenError("token expired: fetch a fresh token and reconnect") from None
            except jwt.ImmatureSignatureError:
                raise TokenError(
                    "token not yet valid (nbf/iat in the future): check clocks", lasting=False
                ) from None
            except jwt.InvalidAlgorithmError:
                raise TokenError("token algorithm not allowed: tokens must be EdDSA") from None
            except jwt.MissingRequiredClaimError as exc:
                raise TokenError(f"token lacks the {exc.claim!r} claim") from None
            except jwt.InvalidTokenError as exc:
                raise TokenError(f"malformed token: {type(exc).__name__}") from None
        else:
            if kid is not None and known is None:
                raise TokenError(
                    "token is signed by a key this runner does not hold (unknown kid): "
                    "fetch a fresh token, or check the runner's --jwks-url / --verify-key",
                    lasting=False,
                    unknown_key=True,
                )
            raise TokenError("token signature is not valid for this runner's keys")
        issued, expires = claims["iat"], claims["exp"]
        lifetime = self.max_lifetime
        if (
            lifetime is not None
            and isinstance(issued, int | float)
            and isinstance(expires, int | float)
            and expires - issued > lifetime
        ):
            raise TokenError(
                f"token lifetime (exp - iat) is over the {lifetime:g} s a token may have: "
                "mint tokens at the token service"
            )
        allowed = claims["allowed_apps"]
        if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
            raise TokenError("token claim 'allowed_apps' must be a list of app names")
        legacy = (
            self.alias_tokens_before is not None
            and isinstance(issued, int | float)
            and issued < self.alias_tokens_before
        )
        if not allows(allowed, endpoint, legacy_aliases=legacy):
            if any(entry.strip("/") == endpoint.alias for entry in allowed):
                raise TokenError(
                    f"token names app {endpoint.alias!r} without its owner, which is valid "
                    "only in tokens minted before this runner started: fetch a fresh token "
                    "(the token service now binds each app to its owner)"
                )
            raise TokenError(f"token is not valid for app {endpoint.app_id!r}")
        return claims


def allows(
    allowed_apps: Sequence[str], endpoint: Endpoint, *, legacy_aliases: bool = False
) -> bool:
    """Whether an ``allowed_apps`` entry names the endpoint.

    An entry names it as ``owner/alias``, as the app id (namespace first), as the full
    endpoint path, or as a glob over the app id (``*/stylize``: what a key for any
    app grants for a bare alias).  A bare alias names it only when ``legacy_aliases``:
    alone it cannot say which owner's app it means.
    """
    names = {endpoint.app_id, f"{endpoint.owner}/{endpoint.alias}", endpoint.endpoint_path}
    for entry in allowed_apps:
        name = entry.strip("/")
        if "/" not in name:
            if legacy_aliases and name == endpoint.alias:
                return True
        elif is_pattern(name):
            if fnmatch.fnmatchcase(endpoint.app_id, name):
                return True
        elif name in names:
            return True
    return False


def _kid(token: str) -> str | None:
    """The ``kid`` in a token's header, if it has one (the signature is checked after)."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError:
        return None  # malformed: jwt.decode says how
    return kid if isinstance(kid, str) else None


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value
