"""``python -m warmwire`` runs the ``warmwire`` command."""

from warmwire.cli import main

raise SystemExit(main())
