"""One Serve replica: a warm runner for one app behind a FastAPI ingress.

The replica runs ``setup()`` in its constructor, so Serve routes no traffic to it
before it is warm; Serve's health check (``check_health``) fails while the runner
is not ready (not set up, or draining).  When Serve stops a replica (scale-down
after ``keep_alive``, redeploy), it stops routing to it, waits for its open
sessions to end (up to ``graceful_shutdown_timeout_s``) and awaits its
``__del__``: the runner drains and runs ``teardown()`` there, which frees the
model before the actor exits.  Sessions still open at the timeout are cut when
Serve kills the replica (Serve gives the replica no earlier notice, so there is
no 1001 close as with ``warmwire serve`` and SIGTERM).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from warmwire import asgi
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.runner.app import App

__all__ = ["WarmwireReplica"]


class WarmwireReplica:
    """One Serve replica: a warm runner for ``app_cls`` behind a FastAPI ingress."""

    async def __init__(  # type: ignore[misc]  # Serve awaits an async constructor
        self,
        app_cls: type[App],
        auth: Callable[[], RunnerAuth] | None,
        runner_config: dict[str, Any],
    ) -> None:
        self._prefix = f"/{app_cls.app_id}"
        config = dict(runner_config)
        if auth is not None:
            config["auth"] = auth()
        self.asgi = asgi.app(app_cls, **config)
        self._stopped = False
        # setup() before the constructor returns: Serve routes to a replica only then.
        await self.asgi.startup()

    def __serve_build_asgi_app__(self) -> Any:
        from fastapi import FastAPI

        api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        api.mount("", self._full_path)
        return api

    async def _full_path(self, scope: Any, receive: Any, send: Any) -> None:
        """Serve the app's own paths whole when Serve routes its prefix here.

        Served at ``route_prefix="/owner/alias"`` (one app among many behind one
        address), Serve gives the request that prefix as its ASGI ``root_path``, and
        the runner would see ``/realtime`` instead of ``/owner/alias/realtime``.
        """
        path: str = scope.get("path", "")
        if scope.get("root_path") and (path == self._prefix or path.startswith(self._prefix + "/")):
            scope = {**scope, "root_path": ""}
        await self.asgi(scope, receive, send)

    def check_health(self) -> None:
        """Serve's health check: fails unless set up and not draining (``GET /ready``)."""
        if not self.asgi.runner.ready:
            state = "draining" if self.asgi.runner.draining else "not set up"
            raise RuntimeError(f"warmwire runner not ready ({state})")

    async def __del__(self) -> None:
        """Serve stops the replica (its sessions have ended): drain, then ``teardown()``.

        Serve awaits this once, before it kills the actor; later calls (the
        garbage collector's) find nothing to do.
        """
        application: asgi.WarmwireASGI | None = getattr(self, "asgi", None)
        if application is None or self._stopped:  # None: the constructor failed
            return
        self._stopped = True
        await application.shutdown()
