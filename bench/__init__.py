"""Benchmarks: run from the repository root as modules, e.g. `python -m bench.submission`.

Nothing here is imported by the application or the tests. See bench/README.md.
"""
