"""The h5py side of HDF5Tests/InteropTests: checks files the Swift code wrote, writes files for it.

    h5py_interop.py check FILE      assert the contents InteropTests.swift wrote
    h5py_interop.py write FILE      write the contents InteropTests.swift expects
    h5py_interop.py swmr-rows FILE DATASET   rows of DATASET, read while a SWMR writer has FILE open
"""
import sys

import h5py
import numpy as np


def check(path):
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "ttl-train-test", f.attrs["format"]
        assert f.attrs["version"] == 3 and f.attrs["version"].dtype == np.int64
        assert f.attrs["eps"] == 1e-5
        assert list(f.attrs["targets"]) == ["q_proj", "v_proj"]
        w = f["adapters/w"]
        assert w.dtype == np.float32 and w.shape == (2, 3), (w.dtype, w.shape)
        assert np.array_equal(w[()], np.arange(6, dtype=np.float32).reshape(2, 3) / 4)
        assert w.fletcher32 and w.compression == "gzip"
        assert f["adapters/w"].attrs["kind"] == "lora"
        assert np.array_equal(f["ids"][()], np.array([-5, 0, 2**40], dtype=np.int64))
        assert f["mask"].dtype == np.uint8 and list(f["mask"][()]) == [0, 1, 1, 0]
        assert f["labels"].dtype == np.int32 and list(f["labels"][()]) == [3, -1]
        assert f["doubles"].dtype == np.float64 and list(f["doubles"][()]) == [0.1, 0.2]
        assert [s.decode() if isinstance(s, bytes) else s for s in f["names"].asstr()[()]] == ["négatif", "positif"]
        loss = f["train/loss"]
        assert loss.maxshape == (None,) and list(loss[()]) == [2.5, 2.25, 2.0]
    print("ok")


def write(path):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "from-h5py"
        f.attrs["count"] = np.int64(7)
        f.attrs["scale"] = 0.5
        f.attrs["names"] = ["a", "bé"]
        f.create_dataset("matrix", data=np.arange(12, dtype=np.float32).reshape(3, 4), chunks=(1, 4), fletcher32=True, compression="gzip")
        f.create_dataset("tokens", data=np.array([1, 2, 3], dtype=np.int32))
        f.create_dataset("offsets", data=np.array([0, 3], dtype=np.int64))
        f.create_dataset("flags", data=np.array([1, 0], dtype=np.uint8))
        f.create_dataset("words", data=["alpha", "βeta"], dtype=h5py.string_dtype())
        f.create_dataset("fixed", data=np.array([b"ab", b"cd"], dtype="S4"))
        grow = f.create_dataset("grow", shape=(0, 2), maxshape=(None, 2), dtype=np.float64)
        grow.resize((2, 2))
        grow[:] = [[1, 2], [3, 4]]


def swmr_rows(path, name):
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        print(f[name].shape[0])


if __name__ == "__main__":
    command, path = sys.argv[1], sys.argv[2]
    {"check": lambda: check(path), "write": lambda: write(path), "swmr-rows": lambda: swmr_rows(path, sys.argv[3])}[command]()
