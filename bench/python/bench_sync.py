"""bench_sync.py: CPython's side of bench/bench_sync.c: an uncontended
multiprocessing.Lock acquire+release, two processes incrementing a
Value('l') under its get_lock(), an Event ping-pong between two processes
and a Barrier(2) cycle (fork start method)."""
import multiprocessing as mp
import time

import bench_util as bu

COUNTER_N = 20000  # increments per process


def lock_uncontended(ctx):
    lock = ctx.Lock()

    def op():
        lock.acquire()
        lock.release()

    return bu.ns_per_op(op)


def incr(v, go):
    go.wait()
    for _ in range(COUNTER_N):
        with v.get_lock():
            v.value += 1


def counter_once(ctx):
    v = ctx.Value("l", 0)
    go = ctx.Event()
    ps = [ctx.Process(target=incr, args=(v, go)) for _ in range(2)]
    for p in ps:
        p.start()
    time.sleep(0.05)
    t0 = time.monotonic_ns()
    go.set()
    for p in ps:
        p.join()
    ns = (time.monotonic_ns() - t0) / (2 * COUNTER_N)
    assert v.value == 2 * COUNTER_N
    return ns


def pong(ping, pong_ev):
    while True:
        ping.wait()
        ping.clear()
        pong_ev.set()


def event_pingpong(ctx):
    ping, pong_ev = ctx.Event(), ctx.Event()
    p = ctx.Process(target=pong, args=(ping, pong_ev), daemon=True)
    p.start()

    def op():
        ping.set()
        pong_ev.wait()
        pong_ev.clear()

    ns = bu.ns_per_op(op, cpu_root=0)
    p.kill()
    p.join()
    return ns


def barrier_loop(b):
    while True:
        b.wait()


def barrier_cycle(ctx):
    b = ctx.Barrier(2)
    p = ctx.Process(target=barrier_loop, args=(b,), daemon=True)
    p.start()
    ns = bu.ns_per_op(b.wait, cpu_root=0)
    p.kill()
    p.join()
    return ns


def main():
    ctx = mp.get_context("fork")
    bu.row("sync.lock.uncontended", "ns", lock_uncontended(ctx))
    bu.row("sync.lock.counter_2proc", "ns",
           bu.median([counter_once(ctx) for _ in range(3)]))
    bu.row("sync.event.pingpong", "us", event_pingpong(ctx) / 1e3)
    bu.row("sync.event.pingpong.cpu", "us", bu.last_cpu_ns / 1e3)
    bu.row("sync.barrier.cycle_2proc", "us", barrier_cycle(ctx) / 1e3)
    bu.row("sync.barrier.cycle_2proc.cpu", "us", bu.last_cpu_ns / 1e3)


if __name__ == "__main__":
    main()
