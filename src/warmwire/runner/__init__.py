"""The runner API: apps, ``@realtime`` endpoints, and the server that hosts them."""

from warmwire.runner.app import App, EndpointConfig, realtime
from warmwire.runner.server import Runner, RunnerConfig, RunningServer, serve
from warmwire.runner.session import InvalidInput, Session, SessionLimits

__all__ = [
    "App",
    "EndpointConfig",
    "InvalidInput",
    "Runner",
    "RunnerConfig",
    "RunningServer",
    "Session",
    "SessionLimits",
    "realtime",
    "serve",
]
