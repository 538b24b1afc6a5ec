"""What tests in several folders share, one module per job (``from helpers.<module> import``).

- ``polling``: wait, bounded, for a condition that has no event to wait on;
- ``processes``: the ``warmwire`` command in its own process: run it to completion, or
  start a runner, wait for the URL it prints and stop it (sync and async);
- ``asgi_servers``: an ASGI app under a real uvicorn or hypercorn, in a thread;
- ``wire``: a ClientProtocol and a ServerProtocol talking by bytes alone, and WebSocket
  frames built and parsed by hand (the sans-IO tests of ``tests/core``);
- ``upgrade_requests``: an upgrade request's head as raw bytes, for the head parsers;
- ``tools``: what the marked tests need from outside the venv (Chromium, node, nginx,
  Ray); a missing one fails the test naming the make target that installs it.

``tests/`` is on the import path through ``pythonpath`` in pyproject.toml, so every test
module imports these by the same name; test modules never import each other.
"""
