"""Deploy realtime apps on Ray Serve: N warm replicas behind Serve's proxy.

::

    from ray import serve
    from warmwire.integrations.ray import deployment

    app = deployment(Stylize, num_replicas=2, auth=partial(RunnerAuth.from_files,
                                                          verify_key="signing.pem.pub"))
    serve.run(app, route_prefix="/")   # ws://HOST:8000/<app-id>/realtime

Each replica is a FastAPI ingress (``@serve.ingress``) whose routes are
warmwire's ASGI adapter (:mod:`warmwire.asgi`): the app's realtime paths,
``/health``, ``/ready``, ``/metrics`` and ``/tokens/`` when the auth holds a
signing key.  The replica runs ``setup()`` in its constructor, so Serve routes
no traffic to it before it is warm; Serve's health check (``check_health``)
fails while the runner is not ready (not set up, or draining).  When Serve
stops a replica (scale-down, redeploy), it stops routing to it and waits for
its open sessions to end, up to ``graceful_shutdown_timeout_s``; then the
runner drains and runs ``teardown()``.  Sessions still open at the timeout are
cut when Serve kills the replica (Serve gives the replica no earlier notice, so
there is no 1001 close as with ``warmwire serve`` and SIGTERM).

A WebSocket session is one ongoing request for Serve, for as long as it stays
open: ``max_ongoing_requests`` is the number of sessions a replica accepts, and
Serve's autoscaling (``autoscaling_config``) counts sessions.

Needs ``pip install 'warmwire[ray]'``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

try:
    from ray import serve
    from ray.serve import Application
except ImportError as exc:  # tests/scale/test_ray_serve.py hides ray to check this
    raise ImportError(
        "warmwire.integrations.ray needs Ray Serve: pip install 'warmwire[ray]'"
    ) from exc

from warmwire import asgi
from warmwire.auth.runner_auth import RunnerAuth
from warmwire.runner.app import App

__all__ = ["deployment"]

DEFAULT_MAX_SESSIONS = 100


def deployment(
    app_cls: type[App],
    *,
    name: str | None = None,
    num_replicas: int | str | None = 2,
    autoscaling_config: Mapping[str, Any] | None = None,
    ray_actor_options: Mapping[str, Any] | None = None,
    max_ongoing_requests: int = DEFAULT_MAX_SESSIONS,
    health_check_period_s: float = 2.0,
    health_check_timeout_s: float = 10.0,
    graceful_shutdown_timeout_s: float = 40.0,
    auth: Callable[[], RunnerAuth] | None = None,
    **runner_config: Any,
) -> Application:
    """A Ray Serve application serving ``app_cls``: pass it to ``serve.run()``.

    ``num_replicas``, ``autoscaling_config`` (which replaces a fixed
    ``num_replicas``), ``ray_actor_options`` (``{"num_gpus": 1}``),
    ``max_ongoing_requests`` (sessions per replica) and the health-check and
    graceful-shutdown periods are Serve's deployment options.  The route
    prefix is ``serve.run``'s (``route_prefix="/"``).

    ``auth`` is a zero-argument callable returning the
    :class:`~warmwire.auth.runner_auth.RunnerAuth`, called in each replica
    (keys don't cross process boundaries), e.g. ``functools.partial(
    RunnerAuth.from_files, verify_key="signing.pem.pub")``.  The other keyword
    arguments are :class:`~warmwire.runner.config.RunnerConfig` fields
    (``insecure_no_auth=True``, ``max_message_size=``, ``drain_timeout=`` …);
    they must be picklable.
    """
    if app_cls.__module__ == "__main__":
        raise ValueError(
            f"{app_cls.__name__} is defined in __main__: define it in a module the replicas "
            "can import (they load it by name, and resolve its handlers' annotations there)"
        )
    if isinstance(auth, RunnerAuth):
        raise TypeError(
            "auth= takes a callable returning a RunnerAuth, called in each replica "
            "(its keys cannot be pickled), e.g. "
            "functools.partial(RunnerAuth.from_files, verify_key='signing.pem.pub')"
        )
    if auth is None and not runner_config.get("insecure_no_auth", False):
        raise TypeError(
            "deployment() needs auth= (a callable returning a RunnerAuth), "
            "or insecure_no_auth=True for local experiments"
        )
    if autoscaling_config is not None:
        num_replicas = None
    options: dict[str, Any] = {
        "name": name or f"warmwire-{app_cls.__name__}",
        "max_ongoing_requests": max_ongoing_requests,
        "health_check_period_s": health_check_period_s,
        "health_check_timeout_s": health_check_timeout_s,
        "graceful_shutdown_timeout_s": graceful_shutdown_timeout_s,
    }
    if num_replicas is not None:
        options["num_replicas"] = num_replicas
    if autoscaling_config is not None:
        options["autoscaling_config"] = dict(autoscaling_config)
    if ray_actor_options is not None:
        options["ray_actor_options"] = dict(ray_actor_options)
    ingress = serve.deployment(**options)(serve.ingress()(WarmwireReplica))
    application: Application = ingress.bind(app_cls, auth, runner_config)
    return application


class WarmwireReplica:
    """One Serve replica: a warm runner for ``app_cls`` behind a FastAPI ingress."""

    async def __init__(  # type: ignore[misc]  # Serve awaits an async constructor
        self,
        app_cls: type[App],
        auth: Callable[[], RunnerAuth] | None,
        runner_config: dict[str, Any],
    ) -> None:
        config = dict(runner_config)
        if auth is not None:
            config["auth"] = auth()
        self.asgi = asgi.app(app_cls, **config)
        # setup() before the constructor returns: Serve routes to a replica only then.
        await self.asgi.startup()

    def __serve_build_asgi_app__(self) -> Any:
        from fastapi import FastAPI

        api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        api.mount("", self.asgi)
        return api

    def check_health(self) -> None:
        """Serve's health check: fails unless set up and not draining (``GET /ready``)."""
        if not self.asgi.runner.ready:
            state = "draining" if self.asgi.runner.draining else "not set up"
            raise RuntimeError(f"warmwire runner not ready ({state})")

    async def __del__(self) -> None:
        """Serve stops the replica (its sessions have ended): drain, then ``teardown()``."""
        application: asgi.WarmwireASGI | None = getattr(self, "asgi", None)
        if application is not None:  # None: the constructor failed
            await application.shutdown()
