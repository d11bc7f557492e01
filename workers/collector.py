"""Python's cycle collector in a worker process that keeps many incidents cached.

A full collection walks every live object, and a worker with 2,000 cached incidents holds about
700,000: measured under the benchmark's steady decision load (2 cores), each full collection
stopped the event loop for 0.4-0.8 s, thirteen times in five minutes. What exists once the
worker's modules are imported lives as long as the process, so it is frozen out of every later
collection (`gc.freeze`, about 100,000 objects: each full collection walks that much less).

Collecting less often was tried and kept out: with a full collection considered after 100
middle-generation collections instead of 10 there were two in the same five minutes, but evicted
incidents' reference cycles waited longer to be freed and the worker's peak grew with the number
of incidents passing through its cache (486 MB at 3,000 and 512 MB at 5,000 in the benchmark's
(d), against 428 and 432 MB before), too close to (d)'s 600 MB at 10,000.
"""

import gc


def tune_for_long_lived_worker() -> None:
    """For the worker process only, never a shared interpreter such as the tests'."""
    gc.collect()
    gc.freeze()
