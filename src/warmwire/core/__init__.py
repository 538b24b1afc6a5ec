"""The sans-IO core: the connection, both opening handshakes, envelope, endpoints, errors.

Nothing in this package performs I/O, starts threads or reads a clock.
"""
