"""What tests in several folders share, one module per job (``import helpers.<module>``).

- ``polling``: wait, bounded, for a condition that has no event to wait on;
- ``processes``: the ``warmwire`` command in its own process: run it, or start a
  runner and wait for the URL it prints, and stop it;
- ``asgi_servers``: an ASGI app under a real uvicorn or hypercorn, in a thread;

``tests/`` is on the import path through ``pythonpath`` in pyproject.toml, so any test
module imports these by the same name; test modules never import each other.
"""
