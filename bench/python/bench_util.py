"""bench_util.py: the Python side of the benchmark row protocol, the twin
of bench/bench_util.h: the same measuring loop (batches grown to a minimum
length, samples until a time budget is spent, median per operation) and the
same printer. See bench/README.md.

A twin prints ``ROW <id> <unit> cpython <value>`` for every row whose C
program prints the mproc/raw columns, with the same id and unit.
"""
import os
import re
import sys
import time

_WORD = re.compile(r"^\S+$")


def budget():
    """Seconds per measurement: $MP_BENCH_BUDGET, else 1.0."""
    try:
        v = float(os.environ.get("MP_BENCH_BUDGET", ""))
        if 0 < v < 3600:
            return v
    except ValueError:
        pass
    return 1.0


# (min, median, max, n) of the last median() / ns_per_op(): row() appends
# the spread when its value is that median (see bench_row in bench_util.h).
_last = None


def median(values):
    global _last
    v = sorted(values)
    n = len(v)
    if n == 0:
        return 0.0
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    _last = (v[0], med, v[-1], n)
    return med


def _spread(value):
    """The last samples' (min, max, n) in value's unit, or None."""
    if _last is None:
        return None
    lo, med, hi, n = _last

    def near(a, b):
        return abs(a - b) <= 1e-9 * abs(b)
    for k in (1, 1e-3, 1e-6, 1e3, 1e6):
        if near(value, med * k):
            return lo * k, hi * k, n
    for k in (1e3, 1e6, 1e9):
        if med > 0 and lo > 0 and near(value, k / med):
            return k / hi, k / lo, n
    return None


def _run_batch(fn, n):
    t0 = time.monotonic_ns()
    for _ in range(n):
        fn()
    return time.monotonic_ns() - t0


_TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """(ppid, utime + stime in ns) of pid from /proc, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) * _TICK_NS


def cpu_tree_ns(root=None):
    """CPU ns burned so far by root (default: this process) and every live
    process below it, plus this process's reaped children: the twin of
    bench_cpu_tree_ns_from (clock-tick resolution here)."""
    me = os.getpid()
    root = root or me
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                procs[int(d)] = st
    t = os.times()
    total = (t.children_user + t.children_system) * 1e9
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in procs.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    for pid in tree:
        if pid == me:
            total += time.process_time_ns()
        elif pid in procs:
            total += procs[pid][1]
    return total


# CPU ns per call of the last ns_per_op(cpu_root=...), or None.
last_cpu_ns = None


def ns_per_op(fn, budget_s=None, sample_s=0.002, min_samples=5,
              max_samples=1000, warmup=3, cpu_root=None):
    """Calls fn() until the budget is spent and returns the median cost of
    one call in nanoseconds (see bench_ns_per_op in bench_util.h). With
    cpu_root (a pid, or 0 for this process), also sets last_cpu_ns: the
    CPU every process from cpu_root down burned per call."""
    global last_cpu_ns
    if budget_s is None:
        budget_s = budget()
    start = time.monotonic_ns()
    _run_batch(fn, warmup)
    batch, want = 1, int(sample_s * 1e9)
    while True:
        t = _run_batch(fn, batch)
        if t >= want or batch >= 1 << 30:
            break
        batch = batch * 8 if t < want // 16 else batch * 2
    samples = []
    limit = int(budget_s * 1e9)
    cpu0 = cpu_tree_ns(cpu_root) if cpu_root is not None else 0
    while len(samples) < max_samples and (
            len(samples) < min_samples
            or time.monotonic_ns() - start < limit):
        samples.append(_run_batch(fn, batch) / batch)
    if cpu_root is not None:
        last_cpu_ns = (cpu_tree_ns(cpu_root) - cpu0) / (len(samples) * batch)
    return median(samples)


def spin_rows(id, unit, div, fn, cpu_root=0, **kw):
    """The twin of bench_spin_rows: prints <id> (latency) and <id>.cpu (CPU
    of every process from cpu_root down per call), both / div. CPython has
    no spinning to turn off: there are no .nospin rows on this side."""
    ns = ns_per_op(fn, cpu_root=cpu_root, **kw)
    row(id, unit, ns / div)
    row(id + ".cpu", unit, last_cpu_ns / div)
    return ns


_saved_affinity = None


def pin(on=True):
    """pin(True) saves the CPU affinity and pins this process (and its
    children) to the lowest CPU it may use; pin(False) restores it. The twin
    of bench_pin() in bench_util.h: use it where the C row does."""
    global _saved_affinity
    if on:
        cpus = os.sched_getaffinity(0)
        if _saved_affinity is None:
            _saved_affinity = cpus
        os.sched_setaffinity(0, {min(cpus)})
    elif _saved_affinity is not None:
        os.sched_setaffinity(0, _saved_affinity)
        _saved_affinity = None


def _check(what, s):
    if not isinstance(s, str) or not _WORD.match(s):
        sys.exit("bench: %s must be one word, got %r" % (what, s))


def row(id, unit, value, column="cpython"):
    """Prints ``ROW id unit column value [min max n]``: the spread when
    value is the last median, as it is or converted by a power of ten
    (ns -> us) or k / median (ns per op -> ops/s)."""
    _check("row id", id)
    _check("unit", unit)
    _check("column", column)
    sp = _spread(value)
    if sp:
        print("ROW %s %s %s %.6g %.6g %.6g %d" % ((id, unit, column, value) + sp),
              flush=True)
    else:
        print("ROW %s %s %s %.6g" % (id, unit, column, value), flush=True)


def row_rate(id, unit, work, column="cpython"):
    """Prints a throughput row from the last ns_per_op(): work units per
    operation (MB per message...) times operations per second, with the
    samples' spread converted too."""
    lo, med, hi, n = _last
    k = work * 1e9
    _check("row id", id)
    _check("unit", unit)
    print("ROW %s %s %s %.6g %.6g %.6g %d" % (id, unit, column, k / med, k / hi, k / lo, n),
          flush=True)


def desc(id, text):
    _check("row id", id)
    print("DESC %s %s" % (id, text), flush=True)


def skip(id, reason):
    _check("row id", id)
    print("SKIP %s %s" % (id, reason), flush=True)
