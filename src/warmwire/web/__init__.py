"""The camera page (``warmwire demo --web``): a browser, a warm vision model, one WebSocket.

The page (``static/index.html``) runs the official ``@fal-ai/client``, bundled
from ``web/`` at the repository root at build time (``npm ci``, esbuild) into
``static/app.js``; :mod:`warmwire.web.server` serves it next to a runner hosting
:class:`~warmwire.examples.faces.Faces`.  Needs the ``warmwire[web]`` extra.
"""

from warmwire.web.server import BundleMissing, WebDemo, check_ready, create_app, serve_web_demo

__all__ = ["BundleMissing", "WebDemo", "check_ready", "create_app", "serve_web_demo"]
