"""conn_fds_interop.py BUILD_DIR: descriptors, and connections, passed
between CPython and C both ways over one Pipe(): CPython's
multiprocessing.reduction.send_handle/recv_handle against mproc's
mp_conn_send_fd/recv_fd/send_conn/recv_conn, with framed messages before,
between and after to show the stream stays in step. The C side is
BUILD_DIR/conn_fds_peer (tests/helpers/conn_fds_peer.c), which follows the
same numbered steps. Run by tests/test_conn_interop.sh."""
import os
import signal
import subprocess
import sys
import tempfile
from multiprocessing import Pipe, reduction
from multiprocessing.connection import Connection


def expect(conn, want, what):
    got = conn.recv_bytes()
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))
    print("ok:", what, flush=True)


def script(a, pid):
    # 1. plain framing first
    a.send_bytes(b"before")
    # 2. a file's descriptor to C; C answers with what the file holds
    with tempfile.TemporaryFile() as f:
        f.write(b"file from Python")
        f.flush()
        reduction.send_handle(a, f.fileno(), pid)
    expect(a, b"file from Python", "Python send_handle -> C recv_fd")
    # 3. a pipe's reading end from C, the bytes already in the pipe
    fd = reduction.recv_handle(a)
    try:
        got = os.read(fd, 64)
    finally:
        os.close(fd)
    if got != b"pipe from C":
        raise AssertionError("C send_fd: read %r" % got)
    print("ok: C send_fd -> Python recv_handle", flush=True)
    # 4. a connection from C, used as a multiprocessing Connection
    with Connection(reduction.recv_handle(a)) as conn:
        expect(conn, b"over a passed connection",
               "C send_conn -> Python Connection(recv_handle())")
        conn.send_bytes(b"reply from Python")
    # 5. the receiving end of a simplex Pipe to C (as Python 3.3+ sends
    #    Connection objects: their descriptor)
    r, w = Pipe(duplex=False)
    reduction.send_handle(a, r.fileno(), pid)
    r.close()
    w.send_bytes(b"simplex from Python")
    w.close()
    # 6. framing still in step
    a.send_bytes(b"after")
    expect(a, b"done", "framing in step after the descriptors")
    print("ok: Python send_handle(Pipe(duplex=False) end) -> C recv_conn",
          flush=True)


def main():
    build = sys.argv[1]
    signal.alarm(90)  # a hung step fails the test instead of hanging CI
    print("python:", sys.version.split()[0])
    a, b = Pipe()  # duplex: a Unix socketpair
    peer = subprocess.Popen([os.path.join(build, "conn_fds_peer"),
                             str(b.fileno())], pass_fds=[b.fileno()])
    b.close()
    try:
        script(a, peer.pid)
        a.close()  # C expects end of file last
        rc = peer.wait(60)
    except BaseException:
        peer.kill()
        peer.wait()
        raise
    if rc != 0:
        print("conn_fds_peer exited with %d" % rc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
