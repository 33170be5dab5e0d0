"""bench_process.py: CPython's side of bench/bench_process.c: starting and
joining a process that does nothing, with the fork start method, pinned to
one CPU and unpinned (the same two rows as the C program)."""
import multiprocessing as mp

import bench_util as bu


def noop():
    pass


def main():
    ctx = mp.get_context("fork")

    def start_join():
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        if p.exitcode != 0:
            raise SystemExit("bench_process.py: child exited %r" % p.exitcode)

    bu.pin(True)
    bu.row("process.start_join.fork", "us", bu.ns_per_op(start_join) / 1e3)
    bu.pin(False)
    bu.row("process.start_join.fork.2cpu", "us",
           bu.ns_per_op(start_join) / 1e3)


if __name__ == "__main__":
    main()
