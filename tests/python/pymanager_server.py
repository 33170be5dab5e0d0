"""pymanager_server.py BUILD_DIR: a CPython SyncManager server, on a Unix
path and on 127.0.0.1 with an authkey, worked by the C client
tests/helpers/pymanager_client.c (mproc/pymanager.h). Besides SyncManager's
types the server has "shared" (one dict the C client writes into and this
script reads back from Python) and "Maker" (a method that returns a list
proxy: the #PROXY reply). After the C client is done, the server must hold
no more objects than before: every proxy gave its reference back."""
import os
import subprocess
import sys
import tempfile
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


def main():
    client = os.path.join(sys.argv[1], "pymanager_client")
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        failures += run(os.path.join(d, "mgr.sock"), None, client)
    failures += run(("127.0.0.1", 0), None, client)
    if failures:
        sys.exit(1)
    print("PASS: a C client of a CPython SyncManager (AF_UNIX and AF_INET)")


if __name__ == "__main__":
    main()
