"""``deployment()``: one app as a Ray Serve application, scaled by its own settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ray import serve
from ray.serve import Application

from warmwire.auth.runner_auth import RunnerAuth
from warmwire.integrations.ray.replica import WarmwireReplica
from warmwire.integrations.ray.scaling import (
    autoscaling_config as scaling_config,
)
from warmwire.integrations.ray.scaling import (
    quiet_metrics_interval,
    sessions_per_replica,
)
from warmwire.runner.app import App

__all__ = ["deployment", "route_prefix"]


def route_prefix(app_cls: type[App]) -> str:
    """Where Serve routes the app: ``/{owner}/{alias}``, the prefix of all its paths."""
    return f"/{app_cls.app_id}"


def deployment(
    app_cls: type[App],
    *,
    name: str | None = None,
    num_replicas: int | str | None = None,
    autoscaling_config: Mapping[str, Any] | None = None,
    ray_actor_options: Mapping[str, Any] | None = None,
    max_ongoing_requests: int | None = None,
    health_check_period_s: float = 2.0,
    health_check_timeout_s: float = 10.0,
    graceful_shutdown_timeout_s: float = 40.0,
    auth: Callable[[], RunnerAuth] | None = None,
    **runner_config: Any,
) -> Application:
    """A Ray Serve application serving ``app_cls``: pass it to ``serve.run()``.

    By default the deployment scales by the app's own settings
    (:class:`~warmwire.runner.app.Scaling`: ``min_concurrency`` … ``keep_alive``,
    see :mod:`warmwire.integrations.ray.scaling`), and ``max_ongoing_requests``
    (sessions per replica) is its ``max_multiplexing``.  ``num_replicas`` fixes
    the number of replicas instead; ``autoscaling_config`` entries replace single
    fields of the derived config (e.g. ``{"look_back_period_s": 10}``).
    ``ray_actor_options`` (``{"num_gpus": 1}``), the health-check and the
    graceful-shutdown periods are Serve's deployment options.  Serve it at
    :func:`route_prefix` (``/{owner}/{alias}``) to put several apps behind one
    address, or at ``"/"``.

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
    if num_replicas is not None and autoscaling_config is not None:
        raise TypeError(
            "give num_replicas (a fixed number) or autoscaling_config (overrides of the "
            "app's scaling), not both"
        )
    scaling = app_cls.scaling
    options: dict[str, Any] = {
        "name": name or f"warmwire-{app_cls.__name__}",
        "max_ongoing_requests": max_ongoing_requests or sessions_per_replica(scaling),
        "health_check_period_s": health_check_period_s,
        "health_check_timeout_s": health_check_timeout_s,
        "graceful_shutdown_timeout_s": graceful_shutdown_timeout_s,
    }
    if num_replicas is not None:
        options["num_replicas"] = num_replicas
    else:
        options["autoscaling_config"] = scaling_config(scaling, **(autoscaling_config or {}))
    if ray_actor_options is not None:
        options["ray_actor_options"] = dict(ray_actor_options)
    with quiet_metrics_interval():
        ingress = serve.deployment(**options)(serve.ingress()(WarmwireReplica))
        application: Application = ingress.bind(app_cls, auth, runner_config)
    return application
