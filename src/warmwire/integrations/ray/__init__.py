"""Deploy realtime apps on Ray Serve: one address, many apps, runners warmed on demand.

::

    from ray import serve
    from warmwire.integrations.ray import deployment, route_prefix

    app = deployment(Stylize, auth=partial(RunnerAuth.from_files,
                                           verify_key="signing.pem.pub"))
    serve.run(app, name="acme-stylize", route_prefix=route_prefix(Stylize))
    # ws://HOST:8000/acme/stylize/realtime

Each app is its own Serve application at its own route prefix
(``/{owner}/{alias}``), so any number of apps share one address and each scales
on its own, by the settings declared on the app (``min_concurrency``,
``max_concurrency``, ``keep_alive``, ``max_multiplexing``,
``concurrency_buffer``: :mod:`warmwire.integrations.ray.scaling`).  For Serve's
own tooling (``serve run`` / ``serve deploy`` / a KubeRay ``RayService``), a
config file names :func:`app` as each application's ``import_path``
(:mod:`warmwire.integrations.ray.builder`); ``warmwire ray mod:AppA mod:AppB``
is the one-command local form.

Each replica is a FastAPI ingress (``@serve.ingress``) whose routes are
warmwire's ASGI adapter (:mod:`warmwire.asgi`): the app's realtime paths,
``/health``, ``/ready``, ``/metrics`` and ``/tokens/`` when the auth holds a
signing key.  A WebSocket session is one ongoing request for Serve, for as long
as it stays open: ``max_ongoing_requests`` is the number of sessions a replica
accepts, and Serve's autoscaling counts sessions.  Lifecycle:
:mod:`warmwire.integrations.ray.replica`.

Needs ``pip install 'warmwire[ray]'``.
"""

from __future__ import annotations

try:
    from ray import serve  # noqa: F401  # the check that Serve is installed
except ImportError as exc:  # tests/scale/test_ray_serve.py hides ray to check this
    raise ImportError(
        "warmwire.integrations.ray needs Ray Serve: pip install 'warmwire[ray]'"
    ) from exc

from warmwire.integrations.ray.builder import app, serve_config
from warmwire.integrations.ray.deploy import deployment, route_prefix
from warmwire.integrations.ray.replica import WarmwireReplica
from warmwire.integrations.ray.scaling import DEFAULT_MAX_SESSIONS, autoscaling_config

__all__ = [
    "DEFAULT_MAX_SESSIONS",
    "WarmwireReplica",
    "app",
    "autoscaling_config",
    "deployment",
    "route_prefix",
    "serve_config",
]
