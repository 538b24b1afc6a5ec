"""What a connection is opened from: a builder's parts, validated and resolved.

The connections take a :class:`Resolved` and know nothing of the builder, so the
builder can import them (to open them) without an import cycle.
"""

from __future__ import annotations

import attrs

from warmwire.auth.strategies import TokenStrategy
from warmwire.codecs.base import Codec
from warmwire.core.spec import ConnectionSpec
from warmwire.transports import ConnectOptions, Transport


@attrs.frozen(slots=True)
class Resolved:
    """A builder's parts, resolved to live objects."""

    spec: ConnectionSpec
    codec: Codec
    transport: Transport
    auth: TokenStrategy
    options: ConnectOptions
