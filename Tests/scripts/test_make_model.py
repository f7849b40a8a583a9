"""scripts/make_model.py: the real shapes (parameter counts of the published models) and a file
ttl-train opens, verifies and runs."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_parity import REPO, key_values, needs_binary, ttl_train  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "scripts"))
import make_model  # noqa: E402


@pytest.mark.parametrize("shape,parameters", [("smollm2-360m", 361_821_120), ("smollm2-1.7b", 1_711_376_384),
                                              ("llama3-8b", 8_030_261_248), ("llama3.2-1b", 1_235_814_400),
                                              ("llama3.2-3b", 3_212_749_824), ("qwen2.5-0.5b", 494_032_768),
                                              ("qwen2.5-1.5b", 1_543_714_304), ("qwen3-0.6b", 596_049_920)])
def test_shapes_have_the_published_parameter_counts(shape, parameters):
    shapes = make_model.llama_shapes(make_model.config_of(shape))
    assert sum(int(np.prod(s)) for s in shapes.values()) == parameters


@needs_binary
@pytest.mark.parametrize("dtype", ["q4_0", "q8_0"])
def test_a_360m_shaped_model_opens_verifies_and_runs(tmp_path, dtype):
    out = tmp_path / "m.h5"
    assert make_model.main(["--shape", "smollm2-360m", "--dtype", dtype, "--out", str(out), "--seed", "3"]) == 0
    info = ttl_train("info", "--model", str(out), "--verify")
    assert info.returncode == 0, info.stderr
    values = key_values(info.stdout)
    assert values["parameters"] == "361821120" and values["fingerprint_verified"] == "true"
    assert values["weight_storage"] == f"f32:65,{dtype}:225" and values["num_key_value_heads"] == "5"
    ids = tmp_path / "ids.txt"
    ids.write_text(" ".join(str(i) for i in np.random.default_rng(1).integers(0, 49152, size=20)))
    run = ttl_train("perplexity", "--model", str(out), "--ids", str(ids))
    assert run.returncode == 0, run.stderr
    # Random weights: the prediction is near uniform over the vocabulary, as noise should be.
    assert 49152 / 4 < float(key_values(run.stdout)["perplexity"]) < 49152 * 4
