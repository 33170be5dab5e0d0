"""conn_peer.py: the CPython side of the interop test: the same script as
tests/helpers/conn_peer.c, written with multiprocessing.connection, so a C
peer and a Python peer can be paired either way round.

    conn_peer.py listen unix|inet KEY
    conn_peer.py connect unix PATH KEY
    conn_peer.py connect inet HOST PORT KEY

KEY "-" means no authentication. Exit status: 0 success, 3
AuthenticationError, 1 anything else.
"""
import sys
from multiprocessing import AuthenticationError, BufferTooShort
from multiprocessing.connection import Client, Listener

BIG = 1 << 20
PATTERN = bytes(i * 7 % 251 for i in range(BIG))


def expect(conn, want):
    got = conn.recv_bytes()
    if got != want:
        sys.exit("conn_peer.py: unexpected message of %d bytes" % len(got))


def serve(conn):
    conn.send_bytes(b"hello from server")
    expect(conn, b"hello from client")
    conn.send_bytes(b"")
    expect(conn, b"")
    conn.send_bytes(PATTERN)
    expect(conn, PATTERN)


def client(conn):
    expect(conn, b"hello from server")
    conn.send_bytes(b"hello from client")
    expect(conn, b"")
    conn.send_bytes(b"")
    try:
        conn.recv_bytes_into(bytearray(16))
        sys.exit("conn_peer.py: a 1 MiB message fit in 16 bytes")
    except BufferTooShort as e:
        big = e.args[0]
    if big != PATTERN:
        sys.exit("conn_peer.py: payload differs")
    conn.send_bytes(big)
    try:
        conn.recv_bytes()
        sys.exit("conn_peer.py: expected EOF")
    except EOFError:
        pass


def main(argv):
    key = None if argv[-1] == "-" else argv[-1].encode()
    inet = argv[2] == "inet"
    try:
        if argv[1] == "listen":
            if inet:
                listener = Listener(("127.0.0.1", 0), authkey=key)
                print("inet %s %d" % listener.address, flush=True)
            else:
                listener = Listener(family="AF_UNIX", authkey=key)
                print("unix %s" % listener.address, flush=True)
            with listener:
                with listener.accept() as conn:
                    serve(conn)
        else:
            address = (argv[3], int(argv[4])) if inet else argv[3]
            with Client(address, authkey=key) as conn:
                client(conn)
    except AuthenticationError as e:
        print("conn_peer.py: AuthenticationError:", e, file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
