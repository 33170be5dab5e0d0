"""bench_queue.py: CPython's side of bench/bench_queue.c: the same rows
with multiprocessing's Queue and SimpleQueue (fork start method): a stream
of 16-byte items from one and from four producer processes, a ping-pong
through two queues, and one 64 MiB item."""
import multiprocessing as mp
import time

import bench_util as bu

ITEM = b"0123456789abcdef"
BIG = 64 << 20


def producer(q, n):
    for _ in range(n):
        q.put(ITEM)


def stream_once(ctx, q, nprod, n):
    per = n // nprod
    t0 = time.monotonic()
    ps = [ctx.Process(target=producer, args=(q, per)) for _ in range(nprod)]
    for p in ps:
        p.start()
    for _ in range(per * nprod):
        q.get()
    s = time.monotonic() - t0
    for p in ps:
        p.join()
    return per * nprod / s


def stream_rate(ctx, simple, nprod):
    q = ctx.SimpleQueue() if simple else ctx.Queue()
    n = 5000
    t0 = time.monotonic()
    stream_once(ctx, q, nprod, n)
    s = time.monotonic() - t0
    n = max(5000, int(n * (bu.budget() / 5) / max(s, 1e-6)))
    return bu.median([stream_once(ctx, q, nprod, n) for _ in range(3)])


def echo(a, b):
    while True:
        x = a.get()
        if not x:
            return
        b.put(x)


def pingpong(ctx):
    a, b = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=echo, args=(a, b))
    p.start()

    def rt():
        a.put(ITEM)
        b.get()

    ns = bu.ns_per_op(rt, cpu_root=0)
    a.put(b"")
    p.join()
    return ns


def big_echo(q, ack):
    while True:
        x = q.get()
        if not x:
            return
        ack.put(b"k")


def big_item(ctx):
    q, ack = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=big_echo, args=(q, ack))
    p.start()
    src = b"x" * BIG
    rates = []
    start = time.monotonic()
    for i in range(10):
        t0 = time.monotonic()
        q.put(src)
        ack.get()
        s = time.monotonic() - t0
        if i >= 2:
            rates.append(BIG / 1e6 / s)
        if i >= 5 and time.monotonic() - start > 2 * bu.budget():
            break
    q.put(b"")
    p.join()
    return bu.median(rates)


def main():
    ctx = mp.get_context("fork")
    bu.row("queue.stream.16B", "msg/s", stream_rate(ctx, False, 1))
    bu.row("queue.simple.stream.16B", "msg/s", stream_rate(ctx, True, 1))
    bu.row("queue.stream.16B.4p1c", "msg/s", stream_rate(ctx, False, 4))
    bu.row("queue.pingpong.16B", "us", pingpong(ctx) / 1e3)
    bu.row("queue.pingpong.16B.cpu", "us", bu.last_cpu_ns / 1e3)
    big = big_item(ctx)
    bu.row("queue.item.64MiB", "MB/s", big)
    bu.row("queue.item.64MiB.copy", "MB/s", big)  # CPython always copies


if __name__ == "__main__":
    main()
