"""pickle_conn.py BUILD_DIR: objects over multiprocessing.connection between
CPython and a C program (tests/helpers/pickle_conn_peer.c), both ways round:
a Python Listener with a C Client, and a C Listener with a Python Client,
over AF_UNIX and AF_INET, with an authkey. Python sends every type with
Connection.send; the C side receives it with mp_conn_recv_obj and sends it
back with mp_conn_send_obj; Python's recv must give the same object. A class
instance must come back as the C side's MP_EDECODE message naming the
class, and the connection must stay usable after it."""
import os
import subprocess
import sys
from multiprocessing.connection import Client, Listener

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pickle_roundtrip import Point, same, values  # noqa: E402

KEY = b"pickle-interop"


def exchange(conn):
    failures = 0
    for v in values():
        conn.send(v)
        back = conn.recv()
        if not same(back, v):
            print("FAIL: sent", repr(v)[:60], "got", repr(back)[:60])
            failures += 1
    for bad in (Point(1), [1, {"p": Point(2)}]):
        conn.send(bad)
        back = conn.recv()
        if not (isinstance(back, str) and back.startswith("EDECODE") and "Point" in back):
            print("FAIL: a class instance gave", repr(back)[:100])
            failures += 1
        conn.send(["still", "usable"])
        if conn.recv() != ["still", "usable"]:
            print("FAIL: the connection is not usable after MP_EDECODE")
            failures += 1
    return failures


def main():
    peer = os.path.join(sys.argv[1], "pickle_conn_peer")
    failures = 0
    for family in ("unix", "inet"):
        # Python Listener, C Client.
        addr = ("127.0.0.1", 0) if family == "inet" else None
        with Listener(addr, family="AF_INET" if family == "inet" else "AF_UNIX",
                      authkey=KEY) as listener:
            a = listener.address
            args = ["inet", a[0], str(a[1])] if family == "inet" else ["unix", a]
            proc = subprocess.Popen([peer, "connect", *args, KEY.decode()])
            with listener.accept() as conn:
                failures += exchange(conn)
            if proc.wait(timeout=60) != 0:
                print("FAIL: the C client exited with", proc.returncode)
                failures += 1
        # C Listener, Python Client.
        proc = subprocess.Popen([peer, "listen", family, KEY.decode()],
                                stdout=subprocess.PIPE, text=True)
        words = proc.stdout.readline().split()
        a = (words[1], int(words[2])) if family == "inet" else words[1]
        with Client(a, authkey=KEY) as conn:
            failures += exchange(conn)
        if proc.wait(timeout=60) != 0:
            print("FAIL: the C listener exited with", proc.returncode)
            failures += 1
    print(f"objects over connections: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
