"""Apps for Serve's own tooling: a builder for config files, and the config file itself.

A Serve config file (``serve run config.yaml``, ``serve deploy config.yaml``,
or the ``serveConfigV2`` of a KubeRay ``RayService``) lists one application per
app, each at its route prefix, each built by :func:`app` from its ``args``::

    applications:
      - name: acme-stylize
        route_prefix: /acme/stylize
        import_path: warmwire.integrations.ray:app
        args:
          app: acme.stylize:Stylize          # MODULE:CLASS, importable on every node
          verify_key: /keys/signing.pem.pub  # or jwks_url: ..., or insecure_no_auth: true
          # optional: num_replicas, autoscaling_config (overrides of the app's scaling),
          # ray_actor_options, max_ongoing_requests, graceful_shutdown_timeout_s,
          # health_check_period_s, health_check_timeout_s, runner: {RunnerConfig fields}

:func:`serve_config` writes that file for a list of apps (``warmwire ray
--print-config``).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from ray.serve import Application

from warmwire.auth.runner_auth import RunnerAuth
from warmwire.integrations.ray.deploy import deployment, route_prefix
from warmwire.runner.app import App

__all__ = ["app", "load_app", "serve_config"]

IMPORT_PATH = "warmwire.integrations.ray:app"
"""The builder's ``import_path`` in a Serve config file."""

_AUTH_ARGS = ("verify_key", "jwks_url", "insecure_no_auth")
_DEPLOYMENT_ARGS = (
    "num_replicas",
    "autoscaling_config",
    "ray_actor_options",
    "max_ongoing_requests",
    "graceful_shutdown_timeout_s",
    "health_check_period_s",
    "health_check_timeout_s",
)
_ARGS = ("app", "runner", *_AUTH_ARGS, *_DEPLOYMENT_ARGS)


def load_app(target: str) -> type[App]:
    """The App subclass ``MODULE:CLASS`` names; ``ValueError`` saying what is wrong."""
    module_name, sep, class_name = target.partition(":")
    if not sep or not module_name or not class_name:
        raise ValueError(f"app {target!r} is not MODULE:CLASS, e.g. warmwire.examples.echo:Echo")
    found: Any = importlib.import_module(module_name)
    for part in class_name.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise ValueError(f"module {module_name!r} has no {class_name!r} (app {target!r})")
    if not (isinstance(found, type) and issubclass(found, App)):
        raise ValueError(f"app {target!r} is not a subclass of warmwire.runner.App")
    return found


def app(args: dict[str, Any]) -> Application:
    """Serve application builder: ``import_path: warmwire.integrations.ray:app``.

    ``args`` as in the module's example: ``app`` (``MODULE:CLASS``), the
    credentials (``verify_key`` / ``jwks_url``, or ``insecure_no_auth: true``),
    optionally :func:`~warmwire.integrations.ray.deploy.deployment`'s options and
    ``runner`` (:class:`~warmwire.runner.config.RunnerConfig` fields).
    """
    unknown = sorted(set(args) - set(_ARGS))
    if unknown:
        raise ValueError(f"unknown warmwire app args {unknown}: the args are {', '.join(_ARGS)}")
    if "app" not in args:
        raise ValueError("warmwire app args need app: MODULE:CLASS")
    app_cls = load_app(str(args["app"]))
    runner: dict[str, Any] = dict(args.get("runner") or {})
    keys = {name: args[name] for name in ("verify_key", "jwks_url") if args.get(name)}
    auth = functools.partial(RunnerAuth.from_files, **keys) if keys else None
    if args.get("insecure_no_auth"):
        runner["insecure_no_auth"] = True
    if auth is None and not runner.get("insecure_no_auth"):
        raise ValueError(
            f"app {args['app']!r} needs verify_key: PATH (or jwks_url: URL) to check tokens, "
            "or insecure_no_auth: true for local experiments"
        )
    options = {name: args[name] for name in _DEPLOYMENT_ARGS if args.get(name) is not None}
    return deployment(app_cls, auth=auth, **options, **runner)


def serve_config(
    apps: Sequence[type[App]],
    *,
    host: str = "0.0.0.0",
    port: int = 8000,
    args: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Serve config file (as a dict: dump it as YAML) serving ``apps`` behind one address.

    Each app is an application named ``{owner}-{alias}`` at ``/{owner}/{alias}``;
    ``args`` go to every app's builder (the credentials, typically).
    """
    applications = [
        {
            "name": application_name(app_cls),
            "route_prefix": route_prefix(app_cls),
            "import_path": IMPORT_PATH,
            "args": {"app": f"{app_cls.__module__}:{app_cls.__qualname__}", **(args or {})},
        }
        for app_cls in apps
    ]
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": host, "port": port},
        "applications": applications,
    }


def application_name(app_cls: type[App]) -> str:
    """The Serve application name of an app: ``{owner}-{alias}``."""
    return app_cls.app_id.replace("/", "-")
