"""bench_pool.py: CPython's side of bench/bench_pool.c: the same pool rows
with multiprocessing.Pool() (default size, fork): apply_async of 1e5
trivial tasks then get all, the apply round trip, map of 1e7 ints with the
default chunksize, imap_unordered of 1e5 with chunksize 1, Pool() + map of
two items + close + join, and a worker's private memory. The big rows run
once each: CPython needs seconds for them."""
import multiprocessing as mp
import os
import time

import bench_util as bu


def ident(x):
    return x


def private_kib(pid):
    kib = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    kib += int(line.split()[1])
    except OSError:
        return None
    return kib


def timed_ms(fn):
    t0 = time.monotonic_ns()
    fn()
    return (time.monotonic_ns() - t0) / 1e6


def main():
    ctx = mp.get_context("fork")
    with ctx.Pool() as pool:
        def apply_async_all():
            rs = [pool.apply_async(ident, (i,)) for i in range(100000)]
            for i, r in enumerate(rs):
                if r.get() != i:
                    raise SystemExit("bench_pool.py: wrong result")
        bu.row("pool.apply_async.1e5", "ms", timed_ms(apply_async_all))
        bu.spin_rows("pool.apply.roundtrip", "us", 1e3,
                     lambda: pool.apply(ident, (7,)))
        bu.row("pool.map.1e7_ints", "ms",
               timed_ms(lambda: pool.map(ident, range(10 ** 7))))

        def imap_unordered():
            s = sum(pool.imap_unordered(ident, range(100000), chunksize=1))
            if s != 100000 * 99999 // 2:
                raise SystemExit("bench_pool.py: wrong sum")
        bu.row("pool.imap_unordered.1e5_chunk1", "ms", timed_ms(imap_unordered))
        pids = set(pool.map(_pid, range(256),
                            chunksize=1))
        kibs = [k for k in (private_kib(p) for p in pids) if k is not None]
        if kibs:
            bu.row("pool.worker_memory", "KiB", bu.median(kibs))

    def create_map2():
        p = ctx.Pool()
        p.map(ident, [1, 2])
        p.close()
        p.join()
    bu.row("pool.create_map2_join", "ms", bu.ns_per_op(create_map2) / 1e6)


def _pid(_):
    return os.getpid()


if __name__ == "__main__":
    main()
