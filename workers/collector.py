"""Python's cycle collector, tuned for a worker process that keeps many incidents cached.

A full collection walks every live object, and a worker with 2,000 cached incidents holds about
700,000: measured under the benchmark's steady decision load (2 cores), each full collection
stopped the event loop for 0.4-0.8 s, thirteen times in five minutes, and every decision in flight
waited. Two changes, applied when the worker process starts (its modules imported):

- what exists by then (the imported modules and what they built) lives as long as the process,
  so it is frozen out of every later collection (`gc.freeze`);
- a full collection is considered after 100 collections of the middle generation instead of 10.
  Python still runs one only when a quarter more objects have survived since the last, so memory
  stays bounded; under the same load there were two in five minutes. The price is memory where
  many incidents pass through the cache: an evicted incident's reference cycles wait longer to be
  freed, and with 3,000 incidents taken into monitoring through a cache of 1,000 the worker's peak
  rose from 428 to 486 MB (the benchmark's (d)).

The young generations are left as they are: their collections take about a millisecond.
"""

import gc

YOUNG_THRESHOLD, MIDDLE_THRESHOLD, _ = gc.get_threshold()
FULL_COLLECTION_THRESHOLD = 100


def tune_for_long_lived_worker() -> None:
    """For the worker process only, never a shared interpreter such as the tests'."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, FULL_COLLECTION_THRESHOLD)
