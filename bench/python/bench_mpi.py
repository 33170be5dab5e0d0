"""bench_mpi.py: the CPython column of the MPI rows (bench/mpi/): mpi4py's
futures (MPIPoolExecutor in static mode: `mpirun -n N python -m
mpi4py.futures bench_mpi.py`, rank 0 runs this file, the other ranks are
its workers), the Python anchor of mproc's "mpi" pool.

run.sh starts this file plainly with its python; it then starts itself
again under mpirun, with the first python that has mpi4py (this one, or
Debian's /usr/bin/python3 with python3-mpi4py), once per phase:
  apply (2 ranks: 1 worker): one submit(x).result() round trip;
  rest  (3 ranks: 2 workers): 1e4 submit then result; map of ints with
        chunksize 1, 100 and the default (1 in mpi4py).
The tasks are the builtin abs, so workers need not import this module.
Where mpi4py manages a few thousand items per second (chunksize 1), the
map runs over 5000 items instead of 1e5: the unit is per item, so the row
compares as it is, and the run stays within bench/README.md's 30 s."""
import os
import shutil
import subprocess
import sys
import time

import bench_util as bu

APPLY = ["mpi.apply.roundtrip"]
REST = ["mpi.submit_get.1e4", "mpi.map.1e5_ints.chunk1",
        "mpi.map.1e5_ints.chunk100", "mpi.map.1e5_ints.default"]


def per_second(n, fn):
    """Items per second of fn(), which handles n items: the median of a few
    runs (no warm-up run: each takes seconds in mpi4py)."""
    ns = bu.ns_per_op(fn, sample_s=1e-9, min_samples=1, warmup=0)
    return n / (ns * 1e-9)


def phase_apply(ex):
    ex.submit(abs, 1).result()
    us = bu.ns_per_op(lambda: ex.submit(abs, 1).result()) / 1000.0
    bu.row("mpi.apply.roundtrip", "us", us)


def phase_rest(ex):
    def submit_get():
        fs = [ex.submit(abs, i) for i in range(10000)]
        for f in fs:
            f.result()
    bu.row("mpi.submit_get.1e4", "tasks/s", per_second(10000, submit_get))
    for rid, n, cs in (("mpi.map.1e5_ints.chunk1", 5000, 1),
                       ("mpi.map.1e5_ints.chunk100", 100000, 100)):
        v = per_second(n, lambda: sum(ex.map(abs, range(n), chunksize=cs)))
        bu.row(rid, "items/s", v)
        # MPIPoolExecutor.map's default chunksize is 1: the same map.
        if cs == 1:
            bu.row("mpi.map.1e5_ints.default", "items/s", v)


def find_python():
    """The first python that imports mpi4py, or None."""
    for py in (sys.executable, "/usr/bin/python3"):
        if py and os.access(py, os.X_OK) and subprocess.run(
                [py, "-c", "import mpi4py.futures"], capture_output=True).returncode == 0:
            return py
    return None


def launch():
    py = find_python()
    reason = None
    if py is None:
        reason = "mpi4py not importable by %s or /usr/bin/python3 (Debian package python3-mpi4py)" % sys.executable
    elif shutil.which("mpirun") is None:
        reason = "mpirun not found (Debian package openmpi-bin)"
    if reason:
        for rid in APPLY + REST:
            bu.skip(rid, reason)
        return 0
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               PYTHONPATH=os.path.dirname(os.path.abspath(__file__)))
    ver = subprocess.run([py, "-c", "import platform, mpi4py; print(platform.python_version(), mpi4py.__version__)"],
                         capture_output=True, text=True).stdout.split()
    print("bench_mpi.py: the cpython column is %s (Python %s, mpi4py %s)" % (py, *ver), file=sys.stderr)
    rc = 0
    for phase, ranks in (("apply", 2), ("rest", 3)):
        sys.stdout.flush()
        r = subprocess.run(["mpirun", "--oversubscribe", "-n", str(ranks), py, "-m",
                            "mpi4py.futures", os.path.abspath(__file__), phase],
                           env=env, timeout=300)
        if r.returncode != 0:
            print("bench_mpi.py: phase %s failed (exit %d)" % (phase, r.returncode), file=sys.stderr)
            rc = 1
    return rc


def main():
    if "OMPI_COMM_WORLD_SIZE" not in os.environ and "PMI_SIZE" not in os.environ:
        sys.exit(launch())
    from mpi4py.futures import MPIPoolExecutor
    with MPIPoolExecutor() as ex:
        {"apply": phase_apply, "rest": phase_rest}[sys.argv[1]](ex)


if __name__ == "__main__":
    main()
