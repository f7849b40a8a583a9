"""The h5py/pandas side of MetricsLogTests.

    metrics_reader.py rows FILE          the train steps, read live with SWMR, as JSON
    metrics_reader.py kill-writer FILE   open FILE for SWMR writing and die without closing it
"""
import json
import os
import sys

import h5py


def rows(path):
    with h5py.File(path, "r", libver="latest", swmr=True) as f:
        print(json.dumps({"train": [int(s) for s in f["train/step"][()]],
                          "loss": [float(v) for v in f["train/loss"][()]],
                          "eval": [int(s) for s in f["eval/step"][()]]}))


def kill_writer(path):
    f = h5py.File(path, "r+", libver="latest")
    f.swmr_mode = True
    f["train/step"].resize((f["train/step"].shape[0],))
    f.flush()
    os._exit(0)


if __name__ == "__main__":
    {"rows": rows, "kill-writer": kill_writer}[sys.argv[1]](sys.argv[2])
