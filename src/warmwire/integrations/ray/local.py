"""Start (or join) Ray for Serve on this machine, with HAProxy direct ingress if asked.

Serve reads its HAProxy settings from the environment of the processes Ray
starts, once: they are set here, in this process, before ``ray.init()`` starts
a local Ray, which passes them on.  Joining a running cluster (``address``)
takes that cluster's settings as they are.

:func:`haproxy_environment` is what makes Serve's HAProxy mode fit warmwire:

- ``RAY_SERVE_ENABLE_HA_PROXY=1``: HAProxy in front, each replica listening on
  its own port, so a session's messages go client → HAProxy → replica, with no
  Python proxy on the path.
- ``RAY_SERVE_HAPROXY_HARD_STOP_AFTER_S``: every replica added or removed, in
  any app, reloads HAProxy; the old HAProxy process keeps the sessions it holds
  until they end, or until this limit cuts them (Serve's default: 120 s, with a
  1006 and no close frame).  warmwire raises it to a day
  (:data:`HARD_STOP_AFTER_S`): one app scaling no longer cuts another's
  sessions.  The cost is one old HAProxy process per reload while it still
  holds a session.
- ``RAY_SERVE_PORT_QUARANTINE_S``: Serve holds a retired replica's port out of
  the pool for ``hard-stop-after`` + 30 s by default, so that an old HAProxy
  process cannot send a new request to a port another app's replica took.  The
  old processes hold only open WebSocket tunnels (already connected to their
  replica) and idle keep-alive connections they close on reload, so warmwire
  keeps Serve's usual 150 s rather than a day plus, which would exhaust the
  replica port range.
- ``RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S``: a retired replica keeps
  accepting for this long, so that load balancers can deregister it, before it
  drains and runs ``teardown()``; Serve's default is 30 s, which also comes out
  of the ``graceful_shutdown_timeout_s`` budget ``teardown()`` runs in.  HAProxy
  drops the replica at its reload, well under a second after Serve retires it,
  and the old HAProxy processes hold only established sessions: warmwire sets
  :data:`MIN_DRAINING_PERIOD_S`.
- The ports and files HAProxy and the fallback proxy use (admin socket, state
  file, stats, metrics), when ``workdir``/``ports`` are given (:func:`serving`
  always gives them: a directory of its own, :func:`side_ports`): Serve's fixed
  defaults collide between two Ray instances on one machine.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from warmwire.integrations.ray.builder import app as build_app
from warmwire.integrations.ray.builder import application_name
from warmwire.integrations.ray.deploy import route_prefix
from warmwire.runner.app import App

__all__ = [
    "HARD_STOP_AFTER_S",
    "MIN_DRAINING_PERIOD_S",
    "PORT_QUARANTINE_S",
    "choose_proxy",
    "environment",
    "haproxy_environment",
    "serving",
    "side_ports",
]

HARD_STOP_AFTER_S = 86_400
"""How long an HAProxy process replaced by a reload keeps its open sessions."""
PORT_QUARANTINE_S = 150.0
"""How long a retired replica's port stays out of the pool (Serve's default for 120 s)."""
MIN_DRAINING_PERIOD_S = 5.0
"""How long a retired replica keeps accepting before it drains (Serve's default: 30 s)."""
_MAX_WORKDIR = 97 - len("/") - 56 - len("/metrics.sock")
"""HAProxy's socket paths (workdir/<56-character node id>/metrics.sock) fit in 97 bytes."""


def haproxy_environment(
    *,
    hard_stop_after_s: int = HARD_STOP_AFTER_S,
    workdir: Path | None = None,
    ports: Mapping[str, int] | None = None,
) -> dict[str, str]:
    """The environment that turns on Serve's HAProxy mode, set for warmwire's sessions.

    ``workdir`` moves HAProxy's files (config, admin socket, state) out of the
    shared ``/tmp/haproxy-serve``; ``ports`` sets ``fallback_http``,
    ``fallback_grpc``, ``stats`` and ``metrics`` instead of Serve's fixed ones.
    """
    env = {
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        "RAY_SERVE_HAPROXY_HARD_STOP_AFTER_S": str(int(hard_stop_after_s)),
        "RAY_SERVE_PORT_QUARANTINE_S": str(PORT_QUARANTINE_S),
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": str(MIN_DRAINING_PERIOD_S),
    }
    if workdir is not None:
        # Serve puts the files under workdir/<node id>/; HAProxy takes socket paths
        # of at most 97 bytes: 40 for workdir.
        if len(str(workdir)) > _MAX_WORKDIR:
            raise ValueError(
                f"HAProxy's socket paths would be too long under {workdir}: give a directory "
                f"of at most {_MAX_WORKDIR} characters (e.g. tempfile.mkdtemp(dir='/tmp'))"
            )
        env.update(
            {
                "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(workdir / "haproxy.cfg"),
                "RAY_SERVE_HAPROXY_SOCKET_PATH": str(workdir / "admin.sock"),
                "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(workdir),
                "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(workdir / "server-state"),
                "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(workdir / "metrics.sock"),
            }
        )
    names = {
        "fallback_http": "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT",
        "fallback_grpc": "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT",
        "stats": "RAY_SERVE_HAPROXY_STATS_PORT",
        "metrics": "RAY_SERVE_HAPROXY_METRICS_PORT",
    }
    for key, port in (ports or {}).items():
        if key not in names:
            raise ValueError(f"unknown port {key!r}: one of {', '.join(sorted(names))}")
        env[names[key]] = str(port)
    return env


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Set ``env`` in this process (for the Ray it starts), then restore what was there."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def choose_proxy(apps: Sequence[type[App]], requested: str) -> tuple[bool, str | None]:
    """Whether to serve ``apps`` through HAProxy for ``requested`` (``auto``, ``haproxy``
    or ``python``), and a note saying why when an app caps its sessions per runner.

    HAProxy can't respect ``max_multiplexing``: it balances by the connections it
    holds, which each reload forgets, and a full replica queues what it is sent
    without Serve counting it as demand (docs/scaling.md).  ``auto`` picks
    Serve's Python proxy then, whose handle holds a session until a replica has
    a free slot and starts one for it.
    """
    if requested not in ("auto", "haproxy", "python"):
        raise ValueError(f"proxy must be auto, haproxy or python, not {requested!r}")
    capped = [app.__name__ for app in apps if app.scaling.max_multiplexing is not None]
    haproxy = requested == "haproxy" or (requested == "auto" and not capped)
    if not capped or requested == "python":
        return haproxy, None
    chosen = (
        "serving through HAProxy as asked"
        if haproxy
        else "serving through Serve's Python proxy (--proxy haproxy to override)"
    )
    note = (
        f"{', '.join(capped)} caps sessions per runner (max_multiplexing), which Serve's "
        f"HAProxy cannot respect: {chosen}; see docs/scaling.md"
    )
    return haproxy, note


@contextmanager
def serving(
    apps: Sequence[type[App]],
    *,
    builder_args: Mapping[str, Any],
    address: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    haproxy: bool = True,
    hard_stop_after_s: int = HARD_STOP_AFTER_S,
    num_cpus: int | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Serve ``apps`` on Ray Serve behind one address, each at ``/{owner}/{alias}``;
    yields the ``ws://`` base URL, and on exit deletes them (and stops the Ray it started).

    Starts a local Ray (HAProxy mode unless ``haproxy=False``), or joins the
    cluster at ``address`` with that cluster's own proxy settings.  Each app is
    built by :func:`~warmwire.integrations.ray.builder.app` from
    ``builder_args`` (credentials, deployment options), as a config file would.
    """
    import ray
    from ray import serve

    started_ray = address is None
    env = dict(extra_env or {})
    # HAProxy's files in a directory of this Ray's own, its side ports free ones:
    # Serve's fixed defaults would collide with another local Ray.
    workdir = Path(tempfile.mkdtemp(prefix="ww-", dir="/tmp"))
    if haproxy and started_ray:
        ports = side_ports()
        env.update(
            haproxy_environment(hard_stop_after_s=hard_stop_after_s, workdir=workdir, ports=ports)
        )
    with environment(env):
        if started_ray:
            ray.init(include_dashboard=False, num_cpus=num_cpus)
        else:
            ray.init(address=address)
    names: list[str] = []
    try:
        serve.start(http_options={"host": host, "port": port})
        for app_cls in apps:
            args = {"app": f"{app_cls.__module__}:{app_cls.__qualname__}", **builder_args}
            name = application_name(app_cls)
            serve.run(build_app(args), name=name, route_prefix=route_prefix(app_cls))
            names.append(name)
        yield f"ws://{host}:{port}"
    finally:
        if started_ray:
            serve.shutdown()  # type: ignore[no-untyped-call]
        else:
            for name in names:
                serve.delete(name)
        ray.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


def side_ports() -> dict[str, int]:
    """Free ports for HAProxy mode's side listeners (fallback proxy, stats, metrics).

    Drawn from 20000-29999: below Serve's replica ports (30000-31000), above Ray's
    worker ports (10002-19999) and outside the kernel's ephemeral range (32768+),
    so that no process Ray starts takes one between this check and HAProxy's bind.
    """
    chosen: dict[str, int] = {}
    rng = random.Random()
    while len(chosen) < len(_SIDE_PORTS):
        port = rng.randrange(20000, 30000)
        if port in chosen.values():
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
        chosen[_SIDE_PORTS[len(chosen)]] = port
    return chosen


_SIDE_PORTS = ("fallback_http", "fallback_grpc", "stats", "metrics")
