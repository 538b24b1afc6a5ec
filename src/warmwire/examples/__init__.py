"""Example apps: ``echo`` and ``stylize`` (an image transform)."""
