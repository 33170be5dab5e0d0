"""gen_pickle_corpus.py [DIR]: writes the seed corpus of fuzz/fuzz_pickle.c
(default fuzz/corpus/fuzz_pickle/): CPython's pickles of every type mproc
decodes, at protocols 0-5, and the hostile ones it must refuse cheaply (a
class instance, a function, a recursive list, a memo bomb that shares one
list 2**20 times, deep nesting, a lying length). Run it again after
changing the list; the files are committed. Files named regress_* are
inputs the fuzzer once broke, kept by hand (the script leaves them)."""
import collections
import os
import pickle
import sys


class Point:
    def __init__(self, x):
        self.x = x


def bomb(levels):
    """A short pickle whose expanded tree has 2**levels leaves."""
    out = bytearray(b"\x80\x04]\x94")  # EMPTY_LIST MEMOIZE: memo 0
    for i in range(levels):
        out += b"](h%ch%ce\x94" % (i, i)  # [m_i, m_i], memo i+1
    out += b"."
    return bytes(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "fuzz", "corpus", "fuzz_pickle")
    os.makedirs(out, exist_ok=True)
    shared = [1]
    rec = []
    rec.append(rec)
    values = {
        "none": None, "bools": [True, False], "ints": [0, 255, 65535, -1, 2**31, -2**63, 2**63 - 1],
        "bigint": 2**70, "floats": [1.5, -0.0, float("inf"), float("nan")],
        "str": ["", "héllo", "日本", "\U0001f600", "a\0b"], "bytes": [b"", b"ab\xff"],
        "bytearray": bytearray(b"xy"), "tuple": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
        "dict": {"a": 1, 2: [3], (4,): None}, "set": {1, "a"}, "frozenset": frozenset({1, 2}),
        "shared": [shared, shared], "ordereddict": collections.OrderedDict(a=1),
        "nested": {"k": [{"x": (1, {2})}]}, "batch": list(range(1001)),
        "instance": Point(1), "function": len, "recursive": rec, "surrogate": "\ud800",
    }
    for name, v in values.items():
        for proto in range(6):
            with open(os.path.join(out, f"{name}_p{proto}"), "wb") as f:
                f.write(pickle.dumps(v, proto))
    hostile = {
        "bomb20": bomb(20),
        "deep": b"\x80\x04" + b"]" * 2000 + b"a" * 1999 + b".",
        "lying_len": b"\x80\x04X\xff\xff\xff\x7fab.",
        "memo_far": b"\x80\x04Nr\xff\xff\xff\x7f.",
        "oob": pickle.dumps(pickle.PickleBuffer(b"abc"), 5, buffer_callback=lambda b: False),
    }
    for name, data in hostile.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
