"""bench_start.py: CPython's side of bench/bench_start.c: starting and
joining a process that does nothing with the spawn and forkserver start
methods and with multiprocessing.dummy (threads), pinned to one CPU."""
import multiprocessing as mp
import multiprocessing.dummy as dummy

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


def main():
    bu.pin(True)
    for method in ("spawn", "forkserver"):
        ctx = mp.get_context(method)
        bu.row("process.start_join." + method, "us",
               bu.ns_per_op(start_join_with(ctx.Process)) / 1e3)
    bu.row("process.start_join.thread", "us",
           bu.ns_per_op(start_join_with(dummy.Process)) / 1e3)
    bu.pin(False)


if __name__ == "__main__":
    main()
