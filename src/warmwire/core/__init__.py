"""The sans-IO core: protocol state machines, handshake, envelope, endpoints, errors.

Nothing in this package performs I/O, starts threads or reads a clock.
"""
