"""The runner API: apps, ``@realtime`` endpoints, and the server that hosts them."""

from warmwire.runner.app import App, EndpointConfig, Scaling, realtime
from warmwire.runner.config import RunnerConfig
from warmwire.runner.host import Runner
from warmwire.runner.server import RunningServer, serve
from warmwire.runner.session import InvalidInput, Session, SessionLimits

__all__ = [
    "App",
    "EndpointConfig",
    "InvalidInput",
    "Runner",
    "RunnerConfig",
    "RunningServer",
    "Scaling",
    "Session",
    "SessionLimits",
    "realtime",
    "serve",
]
