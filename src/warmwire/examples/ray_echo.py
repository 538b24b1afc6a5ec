"""``warmwire/replica-echo`` on Ray Serve: echo, plus which replica answered.

    pip install 'warmwire[ray]'
    warmwire keys generate signing.pem            # signing.pem + signing.pem.pub
    warmwire token-server --signing-key signing.pem --key-file keys.txt --port 8081 &
    python -m warmwire.examples.ray_echo --verify-key signing.pem.pub --port 8000

starts a local Ray instance (or joins ``--address``), deploys two replicas that
verify tokens with the public key only, and serves until Ctrl-C.  Clients mint
a token at the token service and connect to Serve's proxy::

    token = httpx.post("http://127.0.0.1:8081/tokens/", headers={"authorization": "Key ID:SECRET"},
                       json={"allowed_apps": ["replica-echo"]}).json()
    with warmwire.realtime("warmwire/replica-echo", url="ws://127.0.0.1:8000", token=token) as c:
        ...

The :class:`ReplicaEcho` app is what ``tests/scale/test_ray_serve.py`` and
``bench/scale.py`` deploy.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import threading
from collections.abc import Sequence
from typing import Any

from warmwire import runner


def _replica_id() -> str:
    """The Serve replica this process is (its pid outside Serve)."""
    try:
        from ray import serve

        return str(serve.get_replica_context().replica_id.unique_id)
    except Exception:
        return f"pid-{os.getpid()}"


class ReplicaEcho(runner.App, app_id="warmwire/replica-echo"):
    """Echoes each input with ``replica`` and ``pid`` of the replica that served it."""

    replica = ""

    def setup(self) -> None:
        self.replica = _replica_id()

    @runner.realtime("/realtime", buffering=60)
    async def run(self, inp: dict[str, Any]) -> dict[str, Any]:
        return {**inp, "replica": self.replica, "pid": os.getpid()}


def main(argv: Sequence[str] | None = None) -> int:
    import ray
    from ray import serve

    from warmwire.auth.runner_auth import RunnerAuth
    from warmwire.examples import ray_echo  # by its module name, not __main__: replicas import it
    from warmwire.integrations.ray import deployment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--verify-key", help="token public key (warmwire keys generate)")
    parser.add_argument("--insecure-no-auth", action="store_true", help="no credentials")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--address", help="an existing Ray cluster (default: start one)")
    args = parser.parse_args(argv)
    if not (args.verify_key or args.insecure_no_auth):
        parser.error("give --verify-key PATH (or --insecure-no-auth for local experiments)")

    if args.address:
        ray.init(address=args.address)
    else:
        ray.init(include_dashboard=False)
    serve.start(http_options={"host": args.host, "port": args.port})
    auth = (
        functools.partial(RunnerAuth.from_files, verify_key=os.path.abspath(args.verify_key))
        if args.verify_key
        else None
    )
    app = deployment(
        ray_echo.ReplicaEcho,
        num_replicas=args.replicas,
        auth=auth,
        insecure_no_auth=args.insecure_no_auth,
    )
    serve.run(app, name="warmwire", route_prefix="/")
    print(f"warmwire on Ray Serve listening on ws://{args.host}:{args.port}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # after ray.init, which sets its own
        signal.signal(signum, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
