"""Authentication: client token strategies (and, on the runner, token verification)."""

from warmwire.auth.strategies import Credentials, KeyHeader, NoAuth, StaticToken, TokenStrategy

__all__ = ["Credentials", "KeyHeader", "NoAuth", "StaticToken", "TokenStrategy"]
