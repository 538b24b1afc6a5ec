"""warmwire's benchmark harness: ``make bench`` or ``python -m bench [--quick]``.

Every contender talks to its own server process over 127.0.0.1 with the same
payloads; rounds are interleaved (each round runs one batch of every contender,
in a shuffled order) so that machine noise hits all of them alike.  Results go
to ``docs/benchmarks.md`` and ``docs/benchmarks.png``.  Never part of the unit
tests: the numbers depend on the machine and its load.
"""
