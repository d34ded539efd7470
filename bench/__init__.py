"""``make bench``: the performance figures of SPEC §14, each measured against its baseline.

Every figure is a ratio taken in one run on one machine: the load generator, the servers and
their baselines share the same CPUs, Postgres and Redis. ``python -m bench --help`` lists the
options; results go to ``bench/results/latest.json``.
"""
