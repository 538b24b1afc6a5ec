"""The token service: API key in, short-lived token out (and the JWKS to verify it).

Served by the runner or on its own (``warmwire token-server``).  Two request
shapes, both compatible with the fal clients:

- ``POST /tokens/`` ``{"allowed_apps": [...], "token_expiration": SECONDS}`` →
  the token as a JSON string (what ``fal-client`` expects);
- ``POST /tokens/realtime`` ``{"allowed_apps": [...], "duration": SECONDS}`` →
  ``{"token": "..."}``.

Both need ``Authorization: Key id:secret``.  The key's scope decides what may
be minted: every app must be in it (403 naming the app otherwise), a bare alias
(what fal's clients send) is resolved to ``owner/alias`` within it, the
expiration must be within the key's maximum (403 naming the limit), and the key
has a budget of mints per minute (429 with ``Retry-After``).  Each mint is
logged once (the audit line): key id, apps, expiration, caller; never the
secret or the token.  The logic is a pure function of the request so every
front door (warmwire's server, ASGI) shares it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import attrs
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from warmwire.auth.keys import KeyScope, KeyStore, is_pattern
from warmwire.auth.mint_budget import MintBudget, retry_after
from warmwire.auth.tokens import MAX_LIFETIME, TokenIssuer, jwks
from warmwire.core.endpoint import parse_app_id
from warmwire.core.errors import InvalidEndpointError

log = logging.getLogger("warmwire.auth")
audit = logging.getLogger("warmwire.auth.audit")
"""One line per minted token: ``minted key=… apps=… expires_in=… caller=…``."""

MIN_EXPIRATION = 10
MAX_EXPIRATION = MAX_LIFETIME
DEFAULT_EXPIRATION = 120
JWKS_PATH = "/.well-known/jwks.json"

Headers = tuple[tuple[str, str], ...]


@attrs.frozen(slots=True)
class HttpResponse:
    """An answer of the token service; ``headers`` beyond the JSON content type
    (``Retry-After`` on a 429)."""

    status: int
    body: bytes
    headers: Headers = ()


def _error(status: int, error: str, reason: str, headers: Headers = ()) -> HttpResponse:
    return HttpResponse(status, orjson.dumps({"error": error, "reason": reason}), headers)


class _Refused(Exception):
    """A token request refused: the HTTP status, its error name and the reason (safe to send)."""

    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.error = error
        self.reason = reason


@attrs.frozen(slots=True)
class TokenService:
    """Mints tokens for holders of an API key, within the key's scope."""

    keys: KeyStore
    issuer: TokenIssuer
    min_expiration: int = MIN_EXPIRATION
    max_expiration: int = MAX_EXPIRATION
    published: tuple[Ed25519PublicKey, ...] = attrs.field(default=(), repr=False)
    """More public keys for the JWKS: the next signing key (rotation) and retired ones
    whose tokens may still be alive."""
    budget: MintBudget = attrs.field(factory=MintBudget, eq=False, repr=False)
    """Mints per minute per key (``mint_rate=`` on a key line, else the budget's default)."""

    def handle(
        self,
        method: str,
        path: str,
        authorization: str | None,
        body: bytes,
        caller: str | None = None,
    ) -> HttpResponse | None:
        """Answer a token-service request, or ``None`` when ``path`` is not one of its routes.

        ``caller`` is the client's address, for the audit line.
        """
        path = path.split("?", 1)[0]
        if path == JWKS_PATH:
            keys = [self.issuer.key.public_key(), *self.published]
            return HttpResponse(200, orjson.dumps(jwks(*keys)))
        if path in ("/tokens", "/tokens/"):
            field, wrap = "token_expiration", False
        elif path.rstrip("/") == "/tokens/realtime":
            field, wrap = "duration", True
        else:
            return None
        if method != "POST":
            return _error(405, "Method Not Allowed", f"use POST {path}")
        key_id = self.keys.verify_header(authorization)
        if key_id is None:
            return _error(
                401,
                "Unauthorized",
                "missing or wrong API key: send 'Authorization: Key <key_id>:<key_secret>'",
            )
        try:
            request = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError as exc:
            return _error(400, "Bad Request", f"the body must be JSON: {exc}")
        if not isinstance(request, dict):
            return _error(400, "Bad Request", "the body must be a JSON object")
        problem, apps, expiration = self._validate(request, field)
        if problem is not None:
            return _error(400, "Bad Request", problem)
        scope = self.keys.scope(key_id)
        try:
            granted = grant(key_id, scope, apps)
            _check_expiration(key_id, scope, field, expiration)
        except _Refused as refused:
            log.info("refused a token for key %s: %s", key_id, refused.reason)
            return _error(refused.status, refused.error, refused.reason)
        wait = self.budget.take(key_id, scope.mint_rate)
        if wait > 0:
            after = retry_after(wait)
            log.warning("key %s is over its mint rate; refused for %ss", key_id, after)
            return _error(
                429,
                "Too Many Requests",
                f"key {key_id!r} has minted its tokens for this minute; retry in {after} s "
                "(raise its budget with mint_rate=N on its key line)",
                (("retry-after", after),),
            )
        token = self.issuer.mint(key_id, granted, expiration)
        audit.info(
            "minted key=%s apps=%s expires_in=%d caller=%s",
            key_id,
            ",".join(granted),
            expiration,
            caller or "-",
        )
        return HttpResponse(200, orjson.dumps({"token": token} if wrap else token))

    def _validate(self, request: dict[str, Any], field: str) -> tuple[str | None, list[str], int]:
        apps = request.get("allowed_apps")
        if not isinstance(apps, list) or not apps or not all(isinstance(a, str) for a in apps):
            return "field 'allowed_apps' must be a non-empty list of app names", [], 0
        expiration = request.get(field, DEFAULT_EXPIRATION)
        if isinstance(expiration, bool) or not isinstance(expiration, int | float):
            return f"field {field!r} must be a number of seconds", [], 0
        if not self.min_expiration <= expiration <= self.max_expiration:
            return (
                f"field {field!r} must be from {self.min_expiration} to "
                f"{self.max_expiration} seconds, got {expiration}",
                [],
                0,
            )
        return None, apps, int(expiration)


def grant(key_id: str, scope: KeyScope, requested: Sequence[str]) -> list[str]:
    """The ``allowed_apps`` a token minted with this key carries; ``_Refused`` if out of scope.

    A bare alias resolves within the scope (one owner, else refused as ambiguous);
    ``owner/alias[/path]`` must be in scope as it is.
    """
    granted: list[str] = []
    for entry in requested:
        name = entry.strip().strip("/")
        if not name or is_pattern(name):
            raise _Refused(
                400,
                "Bad Request",
                f"allowed_apps entry {entry!r}: name an app ('owner/alias' or an alias), "
                "not a pattern",
            )
        if "/" in name:
            try:
                app_id = parse_app_id(name).app_id
            except InvalidEndpointError as exc:
                raise _Refused(400, "Bad Request", str(exc)) from None
            if not scope.allows(app_id):
                raise _Refused(
                    403,
                    "Forbidden",
                    f"app {app_id!r} is outside the scope of key {key_id!r} ({scope.describe()})",
                )
            resolved = name
        else:
            candidates = scope.resolve_alias(name)
            if not candidates:
                raise _Refused(
                    403,
                    "Forbidden",
                    f"app {name!r} is outside the scope of key {key_id!r} ({scope.describe()})",
                )
            if len(candidates) > 1:
                raise _Refused(
                    403,
                    "Forbidden",
                    f"app {name!r} is ambiguous for key {key_id!r}: it could be "
                    f"{' or '.join(candidates)}; ask for 'owner/{name}'",
                )
            resolved = candidates[0]
        if resolved not in granted:
            granted.append(resolved)
    return granted


def _check_expiration(key_id: str, scope: KeyScope, field: str, expiration: int) -> None:
    limit = scope.max_expiration
    if limit is not None and expiration > limit:
        raise _Refused(
            403,
            "Forbidden",
            f"field {field!r} asks for {expiration} s; key {key_id!r} may mint tokens of at "
            f"most max_expiration={limit} s",
        )
