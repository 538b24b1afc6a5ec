"""The Ray Serve layout without starting Ray: configs Serve accepts, the policy's arithmetic.

- An app's scaling settings become an ``autoscaling_config`` that Serve's own model
  accepts, with ``max_ongoing_requests`` = ``max_multiplexing``.
- :class:`SessionsPolicy` asks for ``ceil(sessions / max_multiplexing) + buffer``.
- ``warmwire ray --print-config`` prints a Serve config file that Serve's own schema
  accepts (what ``serve deploy`` and a KubeRay ``RayService`` read), and so does
  ``deploy/ray/serve-config.yaml``.
- The builder refuses what it cannot serve, saying what to write.

Marked ``scale`` (needs ``warmwire[ray]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers.processes import run_cli
from helpers.tools import require_ray
from warmwire import runner
from warmwire.examples.ray_echo import ReplicaEcho
from warmwire.examples.ray_scaling import Warmup

RAY_MISSING: ImportError | None = None
try:
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import ServeDeploySchema

    from warmwire.integrations.ray import app as build_app
    from warmwire.integrations.ray import autoscaling_config, deployment
    from warmwire.integrations.ray.local import choose_proxy, haproxy_environment
    from warmwire.integrations.ray.scaling import SessionsPolicy
except ImportError as missing:
    RAY_MISSING = missing

pytestmark = pytest.mark.scale

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _ray_is_installed() -> None:
    require_ray(RAY_MISSING)


class Bursty(
    runner.App,
    app_id="test/bursty",
    min_concurrency=1,
    max_concurrency=5,
    keep_alive=30,
    max_multiplexing=4,
    concurrency_buffer=1,
):
    pass


def test_scaling_settings_become_serves_autoscaling_config() -> None:
    config = autoscaling_config(Bursty.scaling)
    parsed = AutoscalingConfig(**config)  # Serve's own model accepts it
    assert (parsed.min_replicas, parsed.max_replicas) == (1, 5)
    assert parsed.downscale_delay_s == parsed.downscale_to_zero_delay_s == 30
    assert parsed.upscale_delay_s == 0  # a demand is acted on at once
    assert parsed.target_ongoing_requests == 4
    assert parsed.policy.policy_kwargs == {"max_multiplexing": 4, "concurrency_buffer": 1}
    # Defaults: scale to zero, fal's keep_alive, 100 sessions per replica.
    default = AutoscalingConfig(**autoscaling_config(ReplicaEcho.scaling))
    assert (default.min_replicas, default.max_replicas) == (0, 100)
    assert default.downscale_delay_s == 60
    assert autoscaling_config(Bursty.scaling, look_back_period_s=10)["look_back_period_s"] == 10


def test_the_deployment_takes_max_multiplexing_as_its_session_limit() -> None:
    app = deployment(Bursty, insecure_no_auth=True)
    config = app._bound_deployment._deployment_config
    assert config.max_ongoing_requests == 4
    assert config.autoscaling_config.min_replicas == 1
    fixed = deployment(Bursty, insecure_no_auth=True, num_replicas=2)
    assert fixed._bound_deployment._deployment_config.autoscaling_config is None
    with pytest.raises(TypeError, match="not both"):
        deployment(Bursty, insecure_no_auth=True, num_replicas=2, autoscaling_config={})


@pytest.mark.parametrize(
    ("sessions", "replicas"),
    [(0.0, 1), (0.5, 2), (4.0, 2), (4.0000001, 2), (4.5, 3), (9.0, 4)],
)
def test_sessions_policy_counts_whole_replicas_plus_the_buffer(
    sessions: float, replicas: int
) -> None:
    assert SessionsPolicy(max_multiplexing=4, concurrency_buffer=1).replicas_for(sessions) == (
        replicas
    )
    assert SessionsPolicy(max_multiplexing=1).replicas_for(0.0) == 0  # zero: scale to zero


def test_print_config_is_a_serve_config_file_serve_accepts() -> None:
    printed = run_cli(
        "ray",
        "warmwire.examples.ray_scaling:Warmup",
        "warmwire.examples.ray_echo:ReplicaEcho",
        "--verify-key",
        "/keys/signing.pem.pub",
        "--host",
        "0.0.0.0",
        "--print-config",
    )
    assert printed.returncode == 0, printed.stderr
    config = yaml.safe_load(printed.stdout)
    ServeDeploySchema.model_validate(config)
    apps = {a["route_prefix"]: a for a in config["applications"]}
    assert set(apps) == {"/warmwire/warmup", "/warmwire/replica-echo"}
    assert apps["/warmwire/warmup"]["import_path"] == "warmwire.integrations.ray:app"
    assert apps["/warmwire/warmup"]["args"] == {
        "app": "warmwire.examples.ray_scaling:Warmup",
        "verify_key": "/keys/signing.pem.pub",
    }
    # What the builder makes of those args is the app, at the app's own scaling.
    built = build_app(apps["/warmwire/warmup"]["args"] | {"verify_key": __file__})
    config = built._bound_deployment._deployment_config
    assert config.autoscaling_config.max_replicas == Warmup.scaling.max_concurrency == 2


def test_the_shipped_rayservice_config_is_one_serve_accepts() -> None:
    service = yaml.safe_load((ROOT / "deploy/ray/rayservice.yaml").read_text())
    serve_config = yaml.safe_load(service["spec"]["serveConfigV2"])
    ServeDeploySchema.model_validate(serve_config)
    for application in serve_config["applications"]:
        assert application["import_path"] == "warmwire.integrations.ray:app"
    local = yaml.safe_load((ROOT / "deploy/ray/serve-config.yaml").read_text())
    ServeDeploySchema.model_validate(local)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "need app: MODULE:CLASS"),
        ({"app": "warmwire.examples.echo"}, "is not MODULE:CLASS"),
        ({"app": "warmwire.examples.echo:Nope", "insecure_no_auth": True}, "has no 'Nope'"),
        ({"app": "warmwire.runner.config:RunnerConfig"}, "not a subclass of warmwire.runner.App"),
        ({"app": "warmwire.examples.echo:Echo"}, "needs verify_key: PATH"),
        ({"app": "warmwire.examples.echo:Echo", "replicas": 2}, "unknown warmwire app args"),
    ],
)
def test_the_builder_says_what_to_write(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_app(args)


def test_insecure_without_a_loopback_host_or_in_haproxy_mode_is_refused() -> None:
    no_auth = run_cli("ray", "warmwire.examples.echo:Echo")
    assert no_auth.returncode == 2
    assert "--verify-key PEM" in no_auth.stderr
    haproxy = run_cli("ray", "warmwire.examples.echo:Echo", "--insecure-no-auth")
    assert haproxy.returncode == 2
    assert "binds each replica on all interfaces" in haproxy.stderr
    exposed = run_cli(
        "ray", "warmwire.examples.echo:Echo", "--insecure-no-auth", "--proxy", "python",
        "--host", "0.0.0.0",
    )  # fmt: skip
    assert exposed.returncode == 2
    assert "only binds loopback" in exposed.stderr


def test_haproxy_environment_moves_files_and_ports_and_keeps_sessions() -> None:
    env = haproxy_environment(workdir=Path("/tmp/ww-x"), ports={"stats": 1234})
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    assert env["RAY_SERVE_HAPROXY_HARD_STOP_AFTER_S"] == "86400"
    assert env["RAY_SERVE_HAPROXY_SOCKET_PATH"] == "/tmp/ww-x/admin.sock"
    assert env["RAY_SERVE_HAPROXY_STATS_PORT"] == "1234"
    with pytest.raises(ValueError, match="too long"):
        haproxy_environment(workdir=Path("/tmp") / ("x" * 60))
    with pytest.raises(ValueError, match="unknown port"):
        haproxy_environment(ports={"http": 1})


def test_auto_proxy_is_haproxy_unless_an_app_caps_its_sessions_per_runner() -> None:
    assert choose_proxy([Warmup, ReplicaEcho], "auto") == (True, None)
    haproxy, note = choose_proxy([Warmup, Bursty], "auto")
    assert not haproxy
    assert note is not None
    assert note.startswith("Bursty caps sessions per runner (max_multiplexing)")
    assert "Python proxy" in note
    haproxy, note = choose_proxy([Bursty], "haproxy")
    assert haproxy
    assert note is not None
    assert "as asked" in note
    assert choose_proxy([Bursty], "python") == (False, None)


def test_warmup_declares_scale_to_zero() -> None:
    assert Warmup.scaling.min_concurrency == 0
    assert Warmup.scaling.keep_alive == 2
