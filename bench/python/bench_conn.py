"""bench_conn.py: CPython's side of bench/bench_conn.c: multiprocessing's
Pipe() with a forked child: a 64-byte send_bytes/recv_bytes round trip
(pinned to one CPU and unpinned), and one 64 MiB message received with
recv_bytes and with recv_bytes_into a reused bytearray."""
import multiprocessing as mp

import bench_util as bu

SMALL = 64
BULK = 64 << 20


def echo(c, other):
    other.close()  # or the parent's close would never reach us as EOF
    try:
        while True:
            c.send_bytes(c.recv_bytes())
    except EOFError:
        pass


def bulk_sender(c, other):
    other.close()
    big = b"b" * BULK
    try:
        while True:
            c.recv_bytes()
            c.send_bytes(big)
    except EOFError:
        pass


def start(ctx, target):
    a, b = ctx.Pipe()
    p = ctx.Process(target=target, args=(b, a))
    p.start()
    b.close()
    return a, p


def stop(a, p):
    a.close()
    p.join()


def pingpong(ctx, id):
    a, p = start(ctx, echo)
    msg = b"a" * SMALL

    def once():
        a.send_bytes(msg)
        a.recv_bytes()

    bu.row(id, "us", bu.ns_per_op(once) / 1e3)
    stop(a, p)


def bulk(ctx):
    a, p = start(ctx, bulk_sender)
    buf = bytearray(BULK)

    def once():
        a.send_bytes(b"g")
        if len(a.recv_bytes()) != BULK:
            raise SystemExit("bench_conn.py: short message")

    def once_into():
        a.send_bytes(b"g")
        if a.recv_bytes_into(buf) != BULK:
            raise SystemExit("bench_conn.py: short message")

    opts = dict(sample_s=1e-9, max_samples=20, warmup=1)
    bu.ns_per_op(once, **opts)
    bu.row_rate("conn.bulk.64MiB", "MB/s", BULK / 1e6)
    bu.ns_per_op(once_into, **opts)
    bu.row_rate("conn.bulk.64MiB.into", "MB/s", BULK / 1e6)
    stop(a, p)


def main():
    ctx = mp.get_context("fork")
    bu.pin(True)
    pingpong(ctx, "conn.pingpong.64B")
    bu.pin(False)
    pingpong(ctx, "conn.pingpong.64B.2cpu")
    bulk(ctx)


if __name__ == "__main__":
    main()
