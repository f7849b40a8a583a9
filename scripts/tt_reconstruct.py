#!/usr/bin/env python3
"""Independent numpy reconstruction of a TT-LoRA ΔW from its cores, for the Swift tests.

    tt_reconstruct.py FILE.h5

FILE holds datasets core_0 … core_{d-1} (each (r_{k-1}, s_k, r_k)), attributes in_factors and
out_factors, and dataset delta_w (in, out) as Swift reconstructed it. Contracts the cores with
numpy.tensordot into a tensor of shape in_factors + reversed(out_factors), reshapes it row-major
to (in, out) and prints the largest relative difference to delta_w; exits 1 above 1e-5.
"""
import sys

import h5py
import numpy as np


def reconstruct(cores, in_factors, out_factors):
    full = cores[0].astype(np.float64)
    for core in cores[1:]:
        full = np.tensordot(full, core.astype(np.float64), axes=([-1], [0]))
    full = full.squeeze(axis=(0, -1))
    assert full.shape == tuple(in_factors) + tuple(reversed(out_factors)), full.shape
    return full.reshape(int(np.prod(in_factors)), int(np.prod(out_factors)))


def main(path):
    with h5py.File(path, "r") as f:
        in_factors = list(f.attrs["in_factors"])
        out_factors = list(f.attrs["out_factors"])
        count = len(in_factors) + len(out_factors)
        cores = [f[f"core_{k}"][()] for k in range(count)]
        swift = f["delta_w"][()].astype(np.float64)
    reference = reconstruct(cores, in_factors, out_factors)
    difference = float(np.abs(swift - reference).max() / np.abs(reference).max())
    print(f"max_relative_difference={difference:.3e}")
    return 0 if difference < 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
