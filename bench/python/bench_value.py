"""bench_value.py: CPython's side of bench/bench_value.c: two processes
incrementing a Value('l') the way the reference says to,
``with v.get_lock(): v.value += 1`` (fork start method). That is exactly
the CPython side of sync.lock.counter_2proc, so its code is reused."""
import multiprocessing as mp

import bench_sync
import bench_util as bu


def main():
    ctx = mp.get_context("fork")
    bu.row("value.incr_locked.2proc", "ns",
           bu.median([bench_sync.counter_once(ctx) for _ in range(3)]))


if __name__ == "__main__":
    main()
