"""The benchmark: the engine's performance figures against their targets (docs/benchmark.md).

Not part of the installed package or the image. `make bench` runs it from the checkout as
`python -m benchmarks` (benchmarks/__main__.py), with the virtualenv that has the `test` extra.
"""
