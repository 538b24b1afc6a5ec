"""Client-side token strategies: what credentials a connection presents.

A strategy gives :class:`Credentials` for one endpoint: a JWT for the
``fal_jwt_token`` query parameter, or headers (``Authorization: Key …`` server
to server).  Strategies are pluggable through the ``warmwire.auth`` entry-point
group.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs

from warmwire.core.endpoint import Endpoint, RunnerUrl
from warmwire.core.events import Headers


@attrs.frozen(slots=True)
class Credentials:
    """What to present at the handshake."""

    token: str | None = None
    headers: Headers = ()


@runtime_checkable
class TokenStrategy(Protocol):
    """Produces credentials for a connection, async and blocking."""

    async def credentials(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials: ...

    def credentials_sync(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials: ...


class NoAuth:
    """Present nothing (a runner started with ``--insecure-no-auth``)."""

    async def credentials(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return Credentials()

    def credentials_sync(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return Credentials()


@attrs.frozen(slots=True)
class StaticToken:
    """A token obtained elsewhere, sent as ``fal_jwt_token``."""

    token: str = attrs.field(repr=False)

    async def credentials(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return Credentials(token=self.token)

    def credentials_sync(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return Credentials(token=self.token)


@attrs.frozen(slots=True)
class KeyHeader:
    """Server to server: send the API key as ``Authorization: Key id:secret``."""

    key: str = attrs.field(repr=False)

    async def credentials(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return self.credentials_sync(endpoint, url)

    def credentials_sync(self, endpoint: Endpoint, url: RunnerUrl) -> Credentials:
        return Credentials(headers=(("authorization", f"Key {self.key}"),))
