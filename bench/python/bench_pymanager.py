"""bench_pymanager.py: CPython's side of bench/bench_pymanager.c: d[k] = v
from a Python client on a dict proxy of a CPython SyncManager over TCP
127.0.0.1 (the same server the C client is measured against)."""
from multiprocessing.managers import SyncManager

import bench_util as bu


def main():
    m = SyncManager(address=("127.0.0.1", 0), authkey=b"bench")
    m.start()
    d = m.dict()
    state = {"i": 0}

    def dict_set():
        state["i"] += 1
        d[state["i"] & 1023] = state["i"] & 1023

    bu.row("pymanager.dict_set.tcp", "us", bu.ns_per_op(dict_set) / 1e3)
    m.shutdown()


if __name__ == "__main__":
    main()
