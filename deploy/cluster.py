"""A local scale-out cluster: token service + N runners behind nginx (``make cluster``).

    python deploy/cluster.py --runners 3 [--app warmwire.examples.echo:Echo] [--port 0]

Starts ``warmwire token-server`` with a freshly generated signing key and a dev
API key, N ``warmwire serve`` runners that only verify tokens (``--verify-key``),
renders deploy/nginx/warmwire.conf.template with their ports, runs Debian's nginx
in the foreground under a temporary prefix on loopback, prints the URL and the
dev key, and stops everything on SIGINT/SIGTERM.

Importable: ``with Cluster(runners=2) as cluster: ...`` (used by tests/scale).
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType, TracebackType

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "nginx" / "warmwire.conf.template"
NGINX = "/usr/sbin/nginx"
URL_LINE = re.compile(r"^warmwire runner listening on (\S+)$")
CLI = [sys.executable, "-m", "warmwire.cli"]


class ClusterError(RuntimeError):
    """A process of the cluster could not be started."""


def find_nginx() -> str:
    """The nginx binary; installs Debian's nginx with apt-get when missing and root."""
    found = shutil.which("nginx") or (NGINX if os.path.exists(NGINX) else None)
    if found:
        return found
    if os.geteuid() != 0:
        raise ClusterError("nginx is not installed: run `sudo apt-get install -y nginx`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "nginx"]
    if subprocess.run(install, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(install, env=env, check=True)
    return NGINX


def render_config(
    prefix: Path, listen: str, runners: list[str], token_server: str, template: Path = TEMPLATE
) -> str:
    """The nginx config for these ``host:port`` runners and token server."""
    servers = "\n".join(f"        server {r} max_fails=1 fail_timeout=10s;" for r in runners)
    return (
        template.read_text()
        .replace("{{prefix}}", str(prefix))
        .replace("{{listen}}", listen)
        .replace("{{runner_servers}}", servers)
        .replace("{{token_server}}", token_server)
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Child:
    """A child process whose combined output is read on a thread."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str]) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(env),
            start_new_session=True,  # Ctrl-C reaches only cluster.py, which stops each child
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                raise ClusterError(f"{self.name} exited:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if match := pattern.search(line):
                return match
        raise ClusterError(f"{self.name}: no {pattern.pattern!r} in {timeout}s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self._thread.join(10)
        while not self.lines.empty():
            line = self.lines.get_nowait()
            if line is not None:
                self.seen.append(line)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


class Cluster:
    """Token service + ``runners`` runners of ``app`` behind nginx; a context manager."""

    def __init__(
        self,
        runners: int = 2,
        app: str = "warmwire.examples.echo:Echo",
        *,
        port: int = 0,
        env: Mapping[str, str] | None = None,
        workdir: Path | None = None,
    ) -> None:
        if runners < 1:
            raise ValueError("runners must be >= 1")
        self.runner_count = runners
        self.app = app
        self.port = port
        self.env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
        self._own_workdir = workdir is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix="warmwire-cluster-")) if workdir is None else workdir
        )
        self.key = f"dev:{secrets.token_urlsafe(18)}"
        self.url = ""
        self.token_url = ""
        self.runner_urls: list[str] = []
        self.runners: list[_Child] = []
        self.token_server: _Child | None = None
        self.nginx: _Child | None = None

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        nginx = find_nginx()
        signing = self.workdir / "signing.pem"
        keys = self.workdir / "keys.txt"
        subprocess.run(
            [*CLI, "keys", "generate", str(signing)], env=self.env, check=True, capture_output=True
        )
        keys.write_text(f"# dev key for the local cluster\n{self.key}\n")
        keys.chmod(0o600)

        options = ["--port", "0", "--signing-key", str(signing), "--key-file", str(keys)]
        self.token_server = _Child("token-server", [*CLI, "token-server", *options], self.env)
        self.token_url = self.token_server.wait_for(URL_LINE).group(1)
        for i in range(self.runner_count):
            env = {**self.env, "WARMWIRE_RUNNER_NAME": f"runner-{i}"}
            argv = [*CLI, "serve", self.app, "--port", "0", "--verify-key", f"{signing}.pub"]
            self.runners.append(_Child(f"runner-{i}", argv, env))
        self.runner_urls = [r.wait_for(URL_LINE).group(1) for r in self.runners]

        prefix = self.workdir / "nginx"
        (prefix / "tmp").mkdir(parents=True, exist_ok=True)
        port = self.port or free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(
            render_config(
                prefix,
                f"127.0.0.1:{port}",
                [_hostport(u) for u in self.runner_urls],
                _hostport(self.token_url),
            )
        )
        argv = [nginx, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)]
        self.nginx = _Child("nginx", [*argv, "-g", "daemon off;"], self.env)
        _wait_listening("127.0.0.1", port, self.nginx)
        self.url = f"ws://127.0.0.1:{port}"

    def terminate_runner(self, index: int) -> None:
        """SIGTERM one runner: it drains (/ready 503, sessions closed with 1001)."""
        self.runners[index].proc.send_signal(signal.SIGTERM)

    def wait_runner(self, index: int, timeout: float = 40) -> int:
        """Wait for a runner (after :meth:`terminate_runner`) to exit; its exit code."""
        return self.runners[index].proc.wait(timeout)

    def stop(self) -> None:
        """Stop nginx, the runners and the token service (each with SIGTERM); idempotent."""
        if self.nginx is not None:
            self.nginx.stop(signal.SIGQUIT)  # graceful: finish the open connections
            self.nginx = None
        for runner in self.runners:
            runner.stop()
        self.runners = []
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _hostport(url: str) -> str:
    return url.split("://", 1)[1].rstrip("/")


def _wait_listening(host: str, port: int, child: _Child, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            child.stop()
            raise ClusterError("nginx exited:\n" + "\n".join(child.seen))
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)  # bounded polling until nginx listens
    raise ClusterError(f"nginx did not listen on {host}:{port} within {timeout}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", type=int, default=2, help="runner processes (default 2)")
    parser.add_argument("--app", default="warmwire.examples.echo:Echo", help="MODULE:CLASS")
    parser.add_argument("--port", type=int, default=8080, help="nginx port; 0 picks a free one")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        with Cluster(args.runners, args.app, port=args.port) as cluster:
            print(f"warmwire cluster listening on {cluster.url}", flush=True)
            print(f"  runners: {' '.join(cluster.runner_urls)}", flush=True)
            print(f"  token service: {cluster.token_url} (via nginx: /tokens/)", flush=True)
            print(f"  dev key: export WARMWIRE_KEY={cluster.key}", flush=True)
            print("  Ctrl-C stops everything", flush=True)
            while not stop.wait(1):
                children = [cluster.nginx, cluster.token_server, *cluster.runners]
                dead = [c.name for c in children if c is not None and c.proc.poll() is not None]
                if dead:
                    print(f"cluster: {', '.join(dead)} exited; stopping", file=sys.stderr)
                    return 1
    except ClusterError as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
