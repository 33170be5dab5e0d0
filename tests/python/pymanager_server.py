"""pymanager_server.py BUILD_DIR: a CPython SyncManager server, on a Unix
path and on 127.0.0.1 with an authkey, worked by the C client
tests/helpers/pymanager_client.c (mproc/pymanager.h). Besides SyncManager's
types the server has "shared" (one dict the C client writes into and this
script reads back from Python) and "Maker" (a method that returns a list
proxy: the #PROXY reply). After the C client is done, the server must hold
no more objects than before: every proxy gave its reference back. Then a
fake server (a Listener with the key) answers with bad replies, and a real
one is shut down under a C client holding a proxy: the C side must report
errors, not crash or hang."""
import os
import pickle
import subprocess
import threading
import sys
import tempfile
from multiprocessing.connection import Listener
from multiprocessing.managers import DictProxy, SyncManager

KEY = b"pymanager-interop"
SHARED = {}


def get_shared():
    return SHARED


class Maker:
    def make_list(self, n):
        return list(range(n))


class Manager(SyncManager):
    pass


Manager.register("shared", callable=get_shared, proxytype=DictProxy)
Manager.register("Maker", callable=Maker, method_to_typeid={"make_list": "list"})


def run(address, args, client):
    failures = 0
    with Manager(address=address, authkey=KEY) as m:
        before = m._number_of_objects()
        a = m.address
        argv = [client, "inet", a[0], str(a[1])] if isinstance(a, tuple) else [client, "unix", a]
        proc = subprocess.run(argv + [KEY.decode()], timeout=90)
        if proc.returncode != 0:
            print("FAIL: the C client exited with", proc.returncode, "for", a)
            failures += 1
        after = m._number_of_objects()
        if after != before:
            print("FAIL: the server holds", after, "objects, had", before, "(decref)")
            failures += 1
        got = m.shared().copy()
        if got != {"from_c": [1, "two"]}:
            print("FAIL: the shared dict from Python:", got)
            failures += 1
    return failures


class Point:
    pass


# One per connection, in the order pymanager_client.c's hostile_checks
# expects: not a pair, an unknown kind, not a pickle, no answer, a global.
BAD_REPLIES = [pickle.dumps(42), pickle.dumps(("#WHAT", 1)), b"\x80\x04garbage",
               None, pickle.dumps(("#RETURN", Point()))]


def hostile(client, d):
    path = os.path.join(d, "bad.sock")
    with Listener(path, authkey=KEY) as listener:
        def serve():
            for reply in BAD_REPLIES:
                with listener.accept() as conn:
                    conn.recv_bytes()
                    if reply is not None:
                        conn.send_bytes(reply)
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        proc = subprocess.run([client, "hostile", path, KEY.decode()], timeout=60)
        t.join(30)
    if proc.returncode != 0:
        print("FAIL: the C client against bad replies exited with", proc.returncode)
        return 1
    return 0


def killed(client, d):
    path = os.path.join(d, "killed.sock")
    m = Manager(address=path, authkey=KEY)
    m.start()
    proc = subprocess.Popen([client, "killed", path, KEY.decode()], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    ready = proc.stdout.readline().strip()
    m.shutdown()
    proc.stdin.write("go\n")
    proc.stdin.flush()
    if ready != "ready" or proc.wait(timeout=60) != 0:
        print("FAIL: the C client with a server shut down exited with", proc.returncode)
        return 1
    return 0


def main():
    client = os.path.join(sys.argv[1], "pymanager_client")
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        failures += run(os.path.join(d, "mgr.sock"), None, client)
        failures += hostile(client, d)
        failures += killed(client, d)
    failures += run(("127.0.0.1", 0), None, client)
    if failures:
        sys.exit(1)
    print("PASS: a C client of a CPython SyncManager (AF_UNIX and AF_INET),"
          " bad replies, a server shut down")


if __name__ == "__main__":
    main()
