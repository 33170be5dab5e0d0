"""bench_manager.py: CPython's side of bench/bench_manager.c: Manager start
+ shutdown, and dict set, dict get and list append from a child process (a
fork-started client), and dict set over TCP on 127.0.0.1."""
import multiprocessing as mp
import os
from multiprocessing.managers import SyncManager

import bench_util as bu


def child(row, fn):
    # CPU counted from the parent down: this client and the server.
    bu.spin_rows(row, "us", 1e3, fn, cpu_root=os.getppid())


def run_in_child(ctx, row, fn):
    p = ctx.Process(target=child, args=(row, fn))
    p.start()
    p.join()
    if p.exitcode != 0:
        raise SystemExit("bench_manager.py: child failed for " + row)


def main():
    ctx = mp.get_context("fork")

    def start_shutdown():
        m = SyncManager(ctx=ctx)
        m.start()
        m.shutdown()

    bu.row("manager.start_shutdown", "us", bu.ns_per_op(start_shutdown) / 1e3)

    m = SyncManager(ctx=ctx)
    m.start()
    d = m.dict()
    lst = m.list()
    d[7] = 7
    state = {"i": 0}

    def dict_set():
        state["i"] += 1
        d[state["i"] & 1023] = state["i"] & 1023

    def dict_get():
        d[7]

    def list_append():
        state["i"] += 1
        lst.append(state["i"])
        if state["i"] & 4095 == 0:
            del lst[:]

    run_in_child(ctx, "manager.dict_set", dict_set)
    run_in_child(ctx, "manager.dict_get", dict_get)
    run_in_child(ctx, "manager.list_append", list_append)
    m.shutdown()

    m = SyncManager(address=("127.0.0.1", 0), ctx=ctx)
    m.start()
    d = m.dict()
    run_in_child(ctx, "manager.dict_set.tcp", dict_set)
    m.shutdown()


if __name__ == "__main__":
    main()
