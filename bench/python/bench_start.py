"""bench_start.py: CPython's side of bench/bench_start.c: starting and
joining a process that does nothing with the spawn and forkserver start
methods and with multiprocessing.dummy (threads), pinned to one CPU; then
Pool(2) + map of 4 items + close + join on fork, spawn, forkserver and
ThreadPool (both CPUs)."""
import multiprocessing as mp
import multiprocessing.dummy as dummy
from multiprocessing.pool import ThreadPool

import bench_util as bu


def noop():
    pass


def start_join_with(make):
    def start_join():
        p = make(target=noop)
        p.start()
        p.join()
        if p.exitcode not in (0, None):
            raise SystemExit("bench_start.py: child exited %r" % p.exitcode)
    return start_join


def ident(x):
    return x


def create_map_join_with(make):
    def create_map_join():
        p = make(2)
        if p.map(ident, [1, 2, 3, 4]) != [1, 2, 3, 4]:
            raise SystemExit("bench_start.py: wrong map result")
        p.close()
        p.join()
    return create_map_join


def main():
    bu.pin(True)
    for method in ("spawn", "forkserver"):
        ctx = mp.get_context(method)
        bu.row("process.start_join." + method, "us",
               bu.ns_per_op(start_join_with(ctx.Process)) / 1e3)
    bu.row("process.start_join.thread", "us",
           bu.ns_per_op(start_join_with(dummy.Process)) / 1e3)
    bu.pin(False)
    for method in ("fork", "spawn", "forkserver"):
        bu.row("pool.create_map_join." + method, "ms",
               bu.ns_per_op(create_map_join_with(mp.get_context(method).Pool))
               / 1e6)
    bu.row("pool.create_map_join.thread", "ms",
           bu.ns_per_op(create_map_join_with(ThreadPool)) / 1e6)


if __name__ == "__main__":
    main()
