"""A model file written by Swift (ModelWriter) must carry the fingerprint Python computes."""
import os
import sys

import h5py

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import import_gguf  # noqa: E402


def fingerprint_of(path):
    weights = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: weights.__setitem__(name.replace("/", "."), obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
        return import_gguf.fingerprint(weights), f.attrs["fingerprint"]


if __name__ == "__main__":
    computed, stored = fingerprint_of(sys.argv[1])
    print(computed)
    sys.exit(0 if computed == stored else 1)
