"""Interop tests: the official fal clients and runtime against warmwire, for real."""
