"""API keys (``key_id:key_secret``, with an optional scope): loading them and checking them
in constant time.

Keys authorise the token service and server-to-server connections.  A key's
secret never appears in a repr, a log line or an error message.

A key line may add options after the key, separated by whitespace::

    backend:s3cret apps=acme/*,acme-labs/stylize max_expiration=600 mint_rate=60

- ``apps=PATTERN[,PATTERN...]``: the apps (``owner/alias``, fnmatch globs) the
  key may mint tokens for and open directly; without it, any app;
- ``max_expiration=SECONDS``: the longest token the key may mint;
- ``mint_rate=N``: tokens the key may mint per minute (default: the service's).
"""

from __future__ import annotations

import fnmatch
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
_GLOB = re.compile(r"[*?\[]")
_OPTIONS = ("apps", "max_expiration", "mint_rate")
_HAS_OPTION = re.compile(r"\s(apps|max_expiration|mint_rate)=")


def is_pattern(name: str) -> bool:
    """Whether ``name`` holds fnmatch glob characters (``*``, ``?``, ``[``)."""
    return _GLOB.search(name) is not None


@attrs.frozen(slots=True)
class KeyScope:
    """What a key may do: the apps it may open or mint for, its longest token, its mint rate.

    ``apps`` is ``None`` for "any app" (a line with no ``apps=``).
    """

    apps: tuple[str, ...] | None = None
    max_expiration: int | None = None
    mint_rate: int | None = None

    def allows(self, app_id: str) -> bool:
        """Whether ``app_id`` (``owner/alias``, namespace first if any) is in scope."""
        if self.apps is None:
            return True
        return any(fnmatch.fnmatchcase(app_id, pattern) for pattern in self.apps)

    def resolve_alias(self, alias: str) -> list[str]:
        """The ``owner/alias`` names (owner maybe a glob) a bare ``alias`` stands for here.

        For each pattern whose alias part matches ``alias``, its owner part with
        ``alias``: ``acme/*`` resolves ``stylize`` to ``acme/stylize``; an "any
        app" key resolves it to ``*/stylize`` (every owner, as the key itself may).
        """
        patterns = self.apps if self.apps is not None else ("*/*",)
        found: list[str] = []
        for pattern in patterns:
            owner, _, alias_part = pattern.rpartition("/")
            if owner and fnmatch.fnmatchcase(alias, alias_part):
                name = f"{owner}/{alias}"
                if name not in found:
                    found.append(name)
        return found

    def describe(self) -> str:
        """The apps in scope, for error messages."""
        return "any app" if self.apps is None else ", ".join(self.apps)


ANY_APP = KeyScope()


@attrs.frozen(slots=True)
class ApiKey:
    """One API key; ``str(key)`` is ``id:secret`` for the ``Authorization: Key`` header."""

    key_id: str
    secret: str = attrs.field(repr=False)
    scope: KeyScope = ANY_APP

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


def parse_key_line(text: str) -> ApiKey:
    """Parse ``key_id:key_secret [apps=P,P...] [max_expiration=S] [mint_rate=N]``."""
    credential, *options = text.split() or [""]
    key = parse_key(credential)
    if not options:
        return key
    values: dict[str, str] = {}
    for option in options:
        name, sep, value = option.partition("=")
        if not sep or name not in _OPTIONS:
            # Never echo the option: a secret with a space would otherwise show its tail.
            raise ConfigurationError(
                f"key {key.key_id!r}: after the key, only {', '.join(o + '=' for o in _OPTIONS)} "
                "options may follow (a secret cannot contain whitespace)"
            )
        if name in values:
            raise ConfigurationError(f"key {key.key_id!r}: option {name}= given twice")
        values[name] = value
    return attrs.evolve(key, scope=_scope(key.key_id, values))


def _scope(key_id: str, values: Mapping[str, str]) -> KeyScope:
    apps = None
    if "apps" in values:
        apps = tuple(p.strip().strip("/") for p in values["apps"].split(","))
        for pattern in apps:
            if "/" not in pattern:
                raise ConfigurationError(
                    f"key {key_id!r}: apps= patterns are 'owner/alias' globs, e.g. 'acme/*', "
                    f"not {pattern!r}"
                )
    return KeyScope(
        apps,
        _positive(key_id, "max_expiration", values.get("max_expiration")),
        _positive(key_id, "mint_rate", values.get("mint_rate")),
    )


def _positive(key_id: str, name: str, value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigurationError(f"key {key_id!r}: {name}= must be a positive whole number")
    return int(value)


class KeyStore:
    """The API keys a runner or token service accepts."""

    def __init__(self, keys: Iterable[ApiKey] = ()) -> None:
        keys = list(keys)
        self._secrets: dict[str, bytes] = {k.key_id: k.secret.encode() for k in keys}
        self._scopes: dict[str, KeyScope] = {k.key_id: k.scope for k in keys}

    def __len__(self) -> int:
        return len(self._secrets)

    def verify(self, key_id: str, secret: str) -> bool:
        """True when ``secret`` is the secret of ``key_id``; constant time in the secret."""
        expected = self._secrets.get(key_id)
        # Compare against a dummy for unknown ids so timing does not reveal which ids exist.
        ok = hmac.compare_digest(expected or b"\0" * 32, secret.encode())
        return ok and expected is not None

    def scope(self, key_id: str) -> KeyScope:
        """The scope of a known key (see :meth:`verify_header`)."""
        return self._scopes[key_id]

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
    """Keys from a file (one key a line, with its options; ``#`` starts a comment at a line's
    start or after whitespace) and ``$WARMWIRE_KEYS``.

    ``$WARMWIRE_KEYS`` holds keys separated by ``;`` or newlines; an entry without
    options may hold several comma-separated ``id:secret`` pairs (the original form).
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
                keys.append(parse_key_line(line))
            except ConfigurationError as exc:
                raise ConfigurationError(f"{path}, line {number}: {exc}") from None
    for entry in re.split(r"[;\n]", env.get(KEYS_ENV, "")):
        entry = entry.strip()
        if not entry:
            continue
        if _HAS_OPTION.search(entry):
            if "," in entry.split()[0]:
                raise ConfigurationError(
                    f"${KEYS_ENV}: separate keys with ';' when a key has options "
                    "(apps=..., max_expiration=..., mint_rate=...)"
                )
            try:
                keys.append(parse_key_line(entry))
            except ConfigurationError as exc:
                raise ConfigurationError(f"${KEYS_ENV}: {exc}") from None
            continue
        for item in entry.split(","):
            if item.strip():
                keys.append(parse_key(item))
    return KeyStore(keys)
