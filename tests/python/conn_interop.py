"""conn_interop.py BUILD_DIR: pairs the C peer (BUILD_DIR/conn_peer) with
the CPython peer (conn_peer.py) as listener and client, over AF_UNIX and
AF_INET on 127.0.0.1, with the right key (both exit 0) and a wrong one
(both report an authentication failure: exit 3). Run by
tests/test_conn_interop.sh."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = "secret password"


def peer(kind, build):
    if kind == "C":
        return [os.path.join(build, "conn_peer")]
    return [sys.executable, os.path.join(HERE, "conn_peer.py")]


def run_pair(build, server, client, family, skey, ckey):
    srv = subprocess.Popen(peer(server, build) + ["listen", family, skey],
                           stdout=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline().split()
        if not line:
            return "listener printed no address (exit %s)" % srv.wait(30)
        cli = subprocess.run(peer(client, build) + ["connect"] + line + [ckey],
                             timeout=60)
        return (srv.wait(60), cli.returncode)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()


def main():
    build = sys.argv[1]
    failures = 0
    print("python:", sys.version.split()[0])
    for family in ("unix", "inet"):
        for server, client in (("C", "Py"), ("Py", "C"), ("C", "C"), ("Py", "Py")):
            for wrong in (False, True):
                ckey = "wrong key" if wrong else KEY
                want = (3, 3) if wrong else (0, 0)
                got = run_pair(build, server, client, family, KEY, ckey)
                ok = got == want
                failures += not ok
                print("%-4s %-2s listener, %-2s client, %-9s key: %s%s" % (
                    family, server, client, "wrong" if wrong else "right",
                    "ok" if ok else "FAILED", "" if ok else
                    " (want exits %s, got %s)" % (want, got)), flush=True)
    # Without a key on either side: plain framing.
    for server, client in (("C", "Py"), ("Py", "C")):
        got = run_pair(build, server, client, "unix", "-", "-")
        ok = got == (0, 0)
        failures += not ok
        print("unix %-2s listener, %-2s client, no key: %s" % (
            server, client, "ok" if ok else "FAILED %s" % (got,)), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
