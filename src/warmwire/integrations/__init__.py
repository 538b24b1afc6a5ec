"""Run warmwire apps on other serving platforms (``warmwire.integrations.ray``: Ray Serve).

Each integration is its own module and imports its platform lazily, so importing
this package needs no extra dependencies.
"""
