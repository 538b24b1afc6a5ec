"""API keys (``key_id:key_secret``): loading them and checking them in constant time.

Keys authorise the token service and server-to-server connections.  A key's
secret never appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

from warmwire.core.errors import ConfigurationError

KEYS_ENV = "WARMWIRE_KEYS"
KEY_ENV = "WARMWIRE_KEY"
_COMMENT = re.compile(r"\s#")


@attrs.frozen(slots=True)
class ApiKey:
    """One API key; ``str(key)`` is ``id:secret`` for the ``Authorization: Key`` header."""

    key_id: str
    secret: str = attrs.field(repr=False)

    def __str__(self) -> str:
        return f"{self.key_id}:{self.secret}"


def parse_key(text: str) -> ApiKey:
    """Parse ``key_id:key_secret``; the error never echoes the secret."""
    key_id, sep, secret = text.strip().partition(":")
    if not sep or not key_id or not secret:
        raise ConfigurationError(
            "an API key must look like 'key_id:key_secret' (one colon, both parts non-empty)"
        )
    return ApiKey(key_id, secret)


class KeyStore:
    """The API keys a runner or token service accepts."""

    def __init__(self, keys: Iterable[ApiKey] = ()) -> None:
        self._secrets: dict[str, bytes] = {k.key_id: k.secret.encode() for k in keys}

    def __len__(self) -> int:
        return len(self._secrets)

    def verify(self, key_id: str, secret: str) -> bool:
        """True when ``secret`` is the secret of ``key_id``; constant time in the secret."""
        expected = self._secrets.get(key_id)
        # Compare against a dummy for unknown ids so timing does not reveal which ids exist.
        ok = hmac.compare_digest(expected or b"\0" * 32, secret.encode())
        return ok and expected is not None

    def verify_header(self, authorization: str | None) -> str | None:
        """The key id when ``authorization`` is a valid ``Key id:secret`` header, else ``None``."""
        if not authorization:
            return None
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "key":
            return None
        try:
            key = parse_key(credentials)
        except ConfigurationError:
            return None
        return key.key_id if self.verify(key.key_id, key.secret) else None


def load_keys(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> KeyStore:
    """Keys from a file (one ``id:secret`` a line; ``#`` starts a comment at a line's
    start or after whitespace) and ``$WARMWIRE_KEYS``.

    ``$WARMWIRE_KEYS`` holds comma-separated ``id:secret`` pairs.
    """
    env = os.environ if env is None else env
    keys: list[ApiKey] = []
    if path is not None:
        for number, line in enumerate(Path(path).read_text().splitlines(), 1):
            # A comment is a whole line or starts after whitespace: a '#' inside a
            # secret is part of the secret (cutting there would weaken the key).
            line = _COMMENT.split(line, 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            try:
                keys.append(parse_key(line))
            except ConfigurationError as exc:
                raise ConfigurationError(f"{path}, line {number}: {exc}") from None
    for item in env.get(KEYS_ENV, "").split(","):
        if item.strip():
            keys.append(parse_key(item))
    return KeyStore(keys)
