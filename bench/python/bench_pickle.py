"""bench_pickle.py: CPython's side of bench/bench_pickle.c: its C pickle
module (pickle.dumps / pickle.loads at protocol 4, what Connection.send
uses) on a dict of 1,000 str -> int and a list of 10^5 ints."""
import pickle

import bench_util as bu


def main():
    objs = {
        "dict1000": {f"key{i}": i for i in range(1000)},
        "list1e5": list(range(100000)),
    }
    for name, obj in objs.items():
        data = pickle.dumps(obj, 4)
        bu.row(f"pickle.dumps.{name}", "us", bu.ns_per_op(lambda: pickle.dumps(obj, 4)) / 1e3)
        bu.row(f"pickle.loads.{name}", "us", bu.ns_per_op(lambda: pickle.loads(data)) / 1e3)


if __name__ == "__main__":
    main()
