"""The token service: API key in, short-lived token out (and the JWKS to verify it).

Served by the runner or on its own (``warmwire token-server``).  Two request
shapes, both compatible with the fal clients:

- ``POST /tokens/`` ``{"allowed_apps": [...], "token_expiration": SECONDS}`` →
  the token as a JSON string (what ``fal-client`` expects);
- ``POST /tokens/realtime`` ``{"allowed_apps": [...], "duration": SECONDS}`` →
  ``{"token": "..."}``.

Both need ``Authorization: Key id:secret``.  The logic is a pure function of
the request so every front door (warmwire's server, ASGI) shares it.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import orjson

from warmwire.auth.keys import KeyStore
from warmwire.auth.tokens import TokenIssuer, jwks

log = logging.getLogger("warmwire.auth")

MIN_EXPIRATION = 10
MAX_EXPIRATION = 3600
DEFAULT_EXPIRATION = 120
JWKS_PATH = "/.well-known/jwks.json"


@attrs.frozen(slots=True)
class HttpResponse:
    status: int
    body: bytes


def _error(status: int, error: str, reason: str) -> HttpResponse:
    return HttpResponse(status, orjson.dumps({"error": error, "reason": reason}))


@attrs.frozen(slots=True)
class TokenService:
    """Mints tokens for holders of an API key."""

    keys: KeyStore
    issuer: TokenIssuer
    min_expiration: int = MIN_EXPIRATION
    max_expiration: int = MAX_EXPIRATION

    def handle(
        self, method: str, path: str, authorization: str | None, body: bytes
    ) -> HttpResponse | None:
        """Answer a token-service request, or ``None`` when ``path`` is not one of its routes."""
        path = path.split("?", 1)[0]
        if path == JWKS_PATH:
            return HttpResponse(200, orjson.dumps(jwks(self.issuer.key.public_key())))
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
        token = self.issuer.mint(key_id, apps, expiration)
        log.info("minted a %ds token for key %s, apps %s", expiration, key_id, apps)
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
