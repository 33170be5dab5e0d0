"""pickle_roundtrip.py BUILD_DIR: mproc's pickle codec against the real
CPython, every type both ways. For each value and each protocol 0-5,
CPython's pickle.dumps goes to the C helper (tests/helpers/pickle_echo.c),
which decodes it, prints its repr and encodes it again with protocols 2-5;
CPython loads each of those and compares it with the original, exactly
(types, -0.0, NaN, shared references). Pickles mproc must refuse (class
instances, functions, ints beyond 64 bits, lone surrogates, recursive
structures, out-of-band buffers) must give MP_EDECODE with a message naming
the reason, and the helper must go on answering."""
import collections
import math
import os
import pickle
import struct
import subprocess
import sys

MP_EDECODE = -1025


class Point:  # a class instance: never built by the C side
    def __init__(self, x):
        self.x = x


def same(a, b):
    """a == b, and the same types all the way down; NaN equals NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def same_obj(a, b):
    """Equality for objects kept as recipes: same type, same args or
    attributes (exceptions and plain instances compare by identity)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, BaseException):
        return a.args == b.args
    if isinstance(a, Point):
        return a.__dict__ == b.__dict__
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_obj(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and not isinstance(a, collections.Counter):
        return a.keys() == b.keys() and all(same_obj(a[k], b[k]) for k in a)
    return a == b


def values():
    shared = [1, 2]
    big_dict = {f"k{i}": i for i in range(2500)}
    vals = [
        None, True, False, 0, 1, -1, 255, 256, 65535, 65536, -65536,
        2**31 - 1, -2**31, 2**31, -2**31 - 1, 2**40, -2**40, 2**63 - 1, -2**63,
        1.5, -0.0, 0.1, 1e300, float("inf"), float("-inf"), float("nan"),
        "", "hello", "é", "日本語", "\U0001f600", "a\0b", "quote'\"\\\n\r",
        "x" * 300, "y" * 70000,
        b"", b"abc", bytes(range(256)), b"z" * 300, b"w" * 70000,
        bytearray(), bytearray(b"xy\x00\xff"), bytearray(b"q" * 300),
        [], [1, [2, [3, []]]], list(range(2500)), ["s"] * 5,
        (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), ((1,), [2]),
        {}, {"a": 1, 2: "b", (1, 2): [3], None: None, 1.5: b"x"}, big_dict,
        set(), {1, 2, 3}, {"a", (1, 2), frozenset({1})}, set(range(2500)),
        frozenset(), frozenset({1, "a", b"b"}),
        [shared, shared, {"k": shared}],
        {"nested": [{"a": (1, 2.5, "x", b"y", None, True)}], "s": {1}},
        [[[[[[[[[[1]]]]]]]]]],
    ]
    return vals


def refusals():
    l = []
    l.append(l)
    out = [
        # Protocols 0-1 pickle an instance through copyreg._reconstructor,
        # which is what gets refused (and named) first there.
        (Point(1), ("Point", "copyreg._reconstructor")),
        ([1, Point(2)], ("Point", "copyreg._reconstructor")),
        (len, ("builtins.len", "__builtin__.len")),
        (2**64, "64 bits"),
        (-2**70, "64 bits"),
        ("\ud800", "surrogate"),
        (l, "recursive"),
        (collections.Counter(a=1), "Counter"),
    ]
    return out


def call(proc, data):
    proc.stdin.write(struct.pack(">I", len(data)) + data)
    proc.stdin.flush()
    n = struct.unpack(">I", proc.stdout.read(4))[0]
    body = proc.stdout.read(n)
    fields = []
    i = 0
    while i < len(body):
        k = struct.unpack(">I", body[i:i + 4])[0]
        fields.append(body[i + 4:i + 4 + k])
        i += 4 + k
    code = struct.unpack("=i", fields[0])[0]
    return code, fields[1:]


def main():
    helper = os.path.join(sys.argv[1], "pickle_echo")
    proc = subprocess.Popen([helper], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    failures = 0
    checked = 0

    def bad(msg):
        nonlocal failures
        failures += 1
        print("FAIL:", msg)

    for v in values() + [collections.OrderedDict([("a", 1), ("b", [2])])]:
        want = dict(v) if isinstance(v, collections.OrderedDict) else v
        for proto in range(0, 6):
            code, f = call(proc, pickle.dumps(v, proto))
            if code != 0:
                bad(f"proto {proto} {repr(v)[:60]}: C refused it: {code} {f}")
                continue
            text = f[0].decode()
            if not isinstance(want, (set, frozenset)) and text != repr(want):
                bad(f"proto {proto}: C repr {text[:80]!r} != {repr(want)[:80]!r}")
            for out_proto, data in zip(range(2, 6), f[1:]):
                back = pickle.loads(data)
                if not same(back, want):
                    bad(f"proto {proto} -> C proto {out_proto}: {repr(back)[:80]} != {repr(want)[:80]}")
                checked += 1
            if v is not None and isinstance(v, list) and len(v) == 3 and v and isinstance(v[0], list) and v[0] is v[1]:
                back = pickle.loads(f[3])
                if not (back[0] is back[1] is back[2]["k"]):
                    bad("C lost the sharing of one list referenced three times")

    # Protocol 5's bytearray and out-of-band buffers.
    code, f = call(proc, pickle.dumps(pickle.PickleBuffer(b"abc"), 5, buffer_callback=lambda b: False))
    if code != MP_EDECODE or b"out-of-band" not in f[0]:
        bad(f"out-of-band buffer: {code} {f}")
    for v, word in refusals():
        for proto in range(0, 6):
            try:
                data = pickle.dumps(v, proto)
            except Exception:
                continue
            code, f = call(proc, data)
            words = word if isinstance(word, tuple) else (word,)
            if code != MP_EDECODE or not any(w.encode() in f[0] for w in words):
                bad(f"refusal of {repr(v)[:40]} proto {proto}: {code} {f[:1]}")
            checked += 1
    # With MP_PICKLE_KEEP_OBJECTS what C cannot represent is kept as a
    # recipe and written back with the same opcodes: Python gets equal
    # objects back (exceptions, instances through NEWOBJ + BUILD, classes,
    # functions), and the repr of an exception is Python's.
    env = dict(os.environ, PICKLE_ECHO_KEEP="1")
    keeper = subprocess.Popen([helper], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    kept = [KeyError("x"), ValueError("a", 1), Point(3), [Point(4), {"k": Point(5)}], len, float,
            collections.Counter(a=2), ("#ERROR", KeyError("missing"))]
    for v in kept:
        for proto in range(2, 6):
            code, f = call(keeper, pickle.dumps(v, proto))
            if code != 0:
                bad(f"kept {v!r} proto {proto}: {code} {f[:1]}")
                continue
            if isinstance(v, BaseException) and f[0].decode() != repr(v):
                bad(f"kept {v!r}: C repr {f[0]!r}")
            for data in f[1:]:
                back = pickle.loads(data)
                if not same_obj(back, v):
                    bad(f"kept {v!r} proto {proto}: back {back!r}")
                checked += 1
    keeper.stdin.close()
    keeper.wait(timeout=30)
    # Still answering after every refusal.
    code, f = call(proc, pickle.dumps([1, "ok"]))
    if code != 0 or f[0] != b"[1, 'ok']":
        bad("the helper does not answer after the refusals")
    proc.stdin.close()
    proc.wait(timeout=30)
    print(f"{checked} round trips and refusals checked, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
