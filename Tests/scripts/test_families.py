"""The model families against transformers itself. Tests/Fixtures/families holds, per family, the
config.json of a tiny model saved by transformers 5.24's `save_pretrained` and the logits
transformers computed for 200 token ids (scripts/make_family_fixtures.py; Llama 3.2's llama3 RoPE
scaling has an original context of 64, so the sequence runs far past it); the weights are drawn
from the family's seed and written here as model.safetensors. Here, without torch: the import
gives ttl-train's logits within 1e-4 of transformers', and so does the independent numpy
reference; greedy generation follows the full forward; both config spellings import the same
model; every unknown or unsupported key is refused by name. With the PyTorch peer
(scripts/peer_venv.sh), transformers and PEFT load what ttl-train exports and compute its logits."""
import atexit
import json
import os
import shutil
import subprocess
import tempfile

import h5py
import numpy as np
import pytest

from test_export import train_adapter
from test_parity import REPO, key_values, needs_binary, reference_forward, ttl_train

import import_gguf  # noqa: E402  (scripts/ is on the path through test_parity)
import import_hf  # noqa: E402
import make_family_fixtures  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

FIXTURES = os.path.join(REPO, "Tests", "Fixtures", "families")
FAMILIES = ["llama3.2", "qwen2.5", "qwen3", "mistral"]
PEER = os.path.join(REPO, ".venv-peer", "bin", "python")
needs_peer = pytest.mark.skipif(not os.path.exists(PEER), reason="the PyTorch peer (scripts/peer_venv.sh) is not "
    "installed")


class TransformersLogits:
    """The logits transformers computed at the positions `make_family_fixtures.LOGIT_ROWS`."""

    def __init__(self, path):
        self.values = np.loadtxt(path, dtype=np.float64)

    def distance(self, logits):
        """The largest difference of `logits` (every position) from transformers' where it has them."""
        return float(np.abs(np.asarray(logits)[make_family_fixtures.LOGIT_ROWS] - self.values).max())


MATERIALIZED = tempfile.mkdtemp(prefix="ttl-families-")
atexit.register(shutil.rmtree, MATERIALIZED, ignore_errors=True)


def fixture(family):
    """A Hugging Face directory of `family` (the fixture's files and its weights, drawn once per
    session), the token ids and transformers' logits."""
    source = os.path.join(FIXTURES, family)
    directory = os.path.join(MATERIALIZED, family)
    if not os.path.isdir(directory):
        shutil.copytree(source, directory)
        seed = json.loads(open(os.path.join(source, "made_by.json")).read())["seed"]
        shapes = import_gguf.llama_shapes(import_hf.read_config(directory))
        save_file(make_family_fixtures.weights(shapes, seed), os.path.join(directory, "model.safetensors"),
                  metadata={"format": "pt"})
    ids = np.loadtxt(os.path.join(source, "ids.txt"), dtype=np.int64)
    return directory, ids, TransformersLogits(os.path.join(source, "logits.txt"))


def import_directory(directory, out):
    code = import_hf.main([str(directory), "--out", str(out)])
    assert code == 0
    return str(out)


def swift_logits(tmp_path, model, ids, *extra):
    ids_path = tmp_path / "ids.txt"
    ids_path.write_text(" ".join(map(str, ids)))
    out = tmp_path / "logits.h5"
    run = ttl_train("perplexity", "--model", str(model), "--ids", str(ids_path), "--ctx", str(len(ids)),
                    "--logits-out", str(out), *extra)
    assert run.returncode == 0, run.stderr
    with h5py.File(out, "r") as f:
        return f["logits"][()].astype(np.float64)


@needs_binary
@pytest.mark.parametrize("family", FAMILIES)
def test_imported_logits_match_transformers_within_1e_4(tmp_path, family):
    directory, ids, expected = fixture(family)
    model = import_directory(directory, tmp_path / "model.h5")
    ours = swift_logits(tmp_path, model, ids)
    assert expected.distance(ours) < 1e-4, family
    config, weights = reference_forward.load(model)
    assert expected.distance(reference_forward.forward(config, weights, ids)) < 1e-4, family
    with h5py.File(model, "r") as f:
        assert f.attrs["format_version"] == 4 and f.attrs["architecture"] == family.split(".")[0].replace("llama3",
                                                                                                          "llama")
    info = key_values(ttl_train("info", "--model", model).stdout)
    assert info["architecture"] == family.split(".")[0].replace("llama3", "llama")


@needs_binary
def test_without_the_llama3_scaling_the_logits_are_far_off(tmp_path):
    """What import_hf.py did before it read `rope_parameters`: plain RoPE at θ = 10,000."""
    directory, ids, expected = fixture("llama3.2")
    plain = tmp_path / "plain"
    shutil.copytree(directory, plain)
    config = json.loads((plain / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0}
    (plain / "config.json").write_text(json.dumps(config))
    ours = swift_logits(tmp_path, import_directory(plain, tmp_path / "plain.h5"), ids)
    assert expected.distance(ours) > 0.1


def test_both_config_spellings_import_the_same_model(tmp_path):
    directory, _, _ = fixture("llama3.2")
    new = import_directory(directory, tmp_path / "new.h5")
    old = tmp_path / "old"
    shutil.copytree(directory, old)
    config = json.loads((old / "config.json").read_text())
    parameters = config.pop("rope_parameters")
    config["rope_theta"] = parameters.pop("rope_theta")
    config["rope_scaling"] = dict(parameters, type=parameters.pop("rope_type"))  # transformers 4.3x's key
    (old / "config.json").write_text(json.dumps(config))
    old = import_directory(old, tmp_path / "old.h5")
    with h5py.File(new, "r") as a, h5py.File(old, "r") as b:
        skip = {"source"}
        assert {k: a.attrs[k] for k in a.attrs if k not in skip} == {k: b.attrs[k] for k in b.attrs if k not in skip}
        assert a.attrs["rope_type"] == "llama3" and a.attrs["rope_original_max_position_embeddings"] == 64


@needs_binary
@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_generation_follows_the_full_forward(tmp_path, family):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=290, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(["the cat sat on the mat, the dog sat on the log. " * 10], trainer=trainer)
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    directory, _, _ = fixture(family)
    model = import_directory(directory, tmp_path / "model.h5")
    prompt = "the dog sat on"
    run = ttl_train("generate", "--model", model, "--tokenizer", str(tmp_path / "tokenizer.json"), "--prompt", prompt,
                    "--max-tokens", "24", "--temperature", "0", "--ids-out", str(tmp_path / "generated.txt"))
    assert run.returncode == 0, run.stderr
    generated = [int(t) for t in (tmp_path / "generated.txt").read_text().split()]
    config, weights = reference_forward.load(model)
    ids = tokenizer.encode(prompt).ids
    for step, token in enumerate(generated):
        logits = reference_forward.forward(config, weights, np.array(ids))[-1]
        assert token == int(np.argmax(logits)), f"{family} step {step}"
        ids.append(token)
    if len(generated) < 24:  # stopped at the end-of-sequence token (2 in the fixtures' configs)
        assert int(np.argmax(reference_forward.forward(config, weights, np.array(ids))[-1])) == 2
    assert len(generated) >= 1


REFUSALS = [
    ("llama3.2", {"quantization_config": {"quant_method": "gptq"}}, "'quantization_config' is not known for llama"),
    ("llama3.2", {"rope_parameters": {"rope_type": "yarn", "factor": 4.0}}, "'rope_parameters.rope_type' is \"yarn\""),
    ("llama3.2", {"rope_parameters": {"rope_type": "llama3", "factor": 8.0, "mscale": 1.0, "low_freq_factor": 1.0,
                                      "high_freq_factor": 4.0}}, "'rope_parameters.mscale' is not known"),
    ("llama3.2", {"rope_scaling": {"type": "dynamic", "factor": 2.0}}, "'rope_scaling.rope_type' is \"dynamic\""),
    ("llama3.2", {"hidden_act": "gelu"}, "'hidden_act' is \"gelu\""),
    ("llama3.2", {"use_sliding_window": False}, "'use_sliding_window' is not known for llama"),
    ("qwen2.5", {"use_sliding_window": True, "sliding_window": 64}, "'use_sliding_window' is true"),
    ("qwen2.5", {"layer_types": ["full_attention", "sliding_attention"]}, "'layer_types'"),
    ("qwen2.5", {"attention_bias": True}, "'attention_bias' is not known for qwen2"),
    ("qwen2.5", {"use_mrope": False}, "'use_mrope' is not known for qwen2"),
    ("qwen3", {"use_sliding_window": True}, "'use_sliding_window' is true"),
    ("qwen3", {"mlp_bias": True}, "'mlp_bias' is not known for qwen3"),
    ("qwen3", {"attention_dropout": 0.1}, "'attention_dropout' is 0.1"),
    ("mistral", {"layer_types": ["full_attention"] * 2}, "'layer_types' is not known for mistral"),
    ("mistral", {"sliding_window": 0}, "'sliding_window' is 0"),
    ("mistral", {"model_type": "mixtral", "architectures": ["MixtralForCausalLM"]}, "model_type 'mixtral' is not "
        "supported"),
    ("mistral", {"architectures": ["LlamaForCausalLM"]}, "architectures ['LlamaForCausalLM'] / model_type 'mistral'"),
]


@pytest.mark.parametrize("family,change,message", REFUSALS, ids=[f"{f}-{next(iter(c))}" for f, c, _ in REFUSALS])
def test_unknown_and_unsupported_keys_are_refused_by_name(tmp_path, capsys, family, change, message):
    directory, _, _ = fixture(family)
    altered = tmp_path / "model"
    shutil.copytree(directory, altered)
    config = json.loads((altered / "config.json").read_text())
    config.update(change)
    (altered / "config.json").write_text(json.dumps(config))
    assert import_hf.main([str(altered), "--out", str(tmp_path / "out.h5")]) == 1
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error, error
    assert not (tmp_path / "out.h5").exists()


def test_a_mistral_without_a_window_and_real_configs_key_sets_import(tmp_path):
    """`sliding_window: null` (Mistral 7B v0.2+) attends everywhere; the keys of published configs
    (written by transformers 4: Qwen2.5-0.5B's, Llama-3.2-1B's, Qwen3-0.6B's) are all known."""
    directory, _, _ = fixture("mistral")
    altered = tmp_path / "mistral"
    shutil.copytree(directory, altered)
    config = json.loads((altered / "config.json").read_text())
    config["sliding_window"] = None
    (altered / "config.json").write_text(json.dumps(config))
    with h5py.File(import_directory(altered, tmp_path / "m.h5"), "r") as f:
        assert "sliding_window" not in f.attrs
    published = {
        "qwen2.5": {"max_window_layers": 24, "rope_theta": 1000000.0, "sliding_window": 32768,
                    "torch_dtype": "bfloat16",
                    "transformers_version": "4.40.1", "use_sliding_window": False, "use_cache": True,
                    "initializer_range": 0.02},
        "llama3.2": {"pretraining_tp": 1, "rope_theta": 500000.0, "rope_scaling": {
            "factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192,
            "rope_type": "llama3"}, "torch_dtype": "bfloat16", "attention_bias": False, "mlp_bias": False},
        "qwen3": {"rope_scaling": None, "rope_theta": 1000000, "sliding_window": None, "max_window_layers": 28,
                  "attention_bias": False, "torch_dtype": "bfloat16"},
    }
    for family, keys in published.items():
        directory, _, _ = fixture(family)
        altered = tmp_path / family
        shutil.copytree(directory, altered)
        config = json.loads((altered / "config.json").read_text())
        config.pop("rope_parameters", None)
        config.pop("dtype", None)
        config.update(keys)
        (altered / "config.json").write_text(json.dumps(config))
        with h5py.File(import_directory(altered, tmp_path / f"{family}.h5"), "r") as f:
            assert f.attrs["rope_theta"] == float(keys["rope_theta"])


def train(tmp_path, model, kind="lora"):
    """4 steps of `kind` on every linear layer; the step-4 checkpoint."""
    targets = "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"
    adapter = f"kind: {kind}, rank: 4, alpha: 8, targets: [{targets}]"
    return str(train_adapter(tmp_path, model, 300, adapter, data_seed=2, name="family"))


def peer_logits(tmp_path, script, ids):
    """Runs `script` in the PyTorch peer; it writes logits for `ids` (in IDS) to OUT."""
    out = tmp_path / "peer.npy"
    run = subprocess.run([PEER, "-c", script], capture_output=True, text=True,
                         env=dict(os.environ, IDS=" ".join(map(str, ids)), OUT=str(out)))
    assert run.returncode == 0, run.stderr[-2000:]
    return np.load(out).astype(np.float64)


LOAD = """
import os, numpy, torch, transformers
ids = torch.tensor([[int(t) for t in os.environ["IDS"].split()]])
def save(model):
    with torch.no_grad():
        numpy.save(os.environ["OUT"], model.eval()(ids).logits[0].numpy())
"""


@needs_binary
@pytest.mark.parametrize("family", FAMILIES)
def test_hugging_face_export_of_the_trained_model_reimports_and_reproduces_its_logits(tmp_path, family):
    directory, ids, _ = fixture(family)
    model = import_directory(directory, tmp_path / "model.h5")
    checkpoint = train(tmp_path, model)
    adapted = swift_logits(tmp_path, model, ids[:64], "--checkpoint", checkpoint)
    assert np.abs(adapted - swift_logits(tmp_path, model, ids[:64])).max() > 1e-2, "training changed the model"
    tokenizer = tmp_path / "tokenizer.json"
    shutil.copy(os.path.join(REPO, "assets", "tokenizer.json"), tokenizer)
    run = ttl_train("export", checkpoint, "--format", "hf", "--out", str(tmp_path / "hf"), "--tokenizer",
                    str(tokenizer))
    assert run.returncode == 0, run.stderr
    exported = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert exported["model_type"] == json.loads(open(os.path.join(directory, "config.json")).read())["model_type"]
    again = import_directory(tmp_path / "hf", tmp_path / "again.h5")
    assert np.abs(swift_logits(tmp_path, again, ids[:64]) - adapted).max() < 1e-4
    with h5py.File(model, "r") as a, h5py.File(again, "r") as b:
        for key in ("architecture", "linear_bias", "qk_norm", "sliding_window", "rope_type", "rope_factor", "head_dim"):
            assert (key in a.attrs) == (key in b.attrs) and (key not in a.attrs or a.attrs[key] == b.attrs[key]), key
    if os.path.exists(PEER):
        theirs = peer_logits(tmp_path,
                             LOAD + f"save(transformers.AutoModelForCausalLM.from_pretrained({str(tmp_path / 'hf')!r}, "
                             "attn_implementation='eager'))", ids[:64])
        assert np.abs(theirs - adapted).max() < 1e-4, family


@needs_binary
@needs_peer
@pytest.mark.parametrize("kind", ["lora", "dora"])
def test_peft_loads_an_adapter_trained_on_qwen2_5(tmp_path, kind):
    directory, ids, _ = fixture("qwen2.5")
    model = import_directory(directory, tmp_path / "model.h5")
    checkpoint = train(tmp_path, model, kind)
    adapted = swift_logits(tmp_path, model, ids[:64], "--checkpoint", checkpoint)
    run = ttl_train("export", checkpoint, "--format", "peft", "--out", str(tmp_path / "peft"))
    assert run.returncode == 0, run.stderr
    theirs = peer_logits(tmp_path, LOAD + "import peft\n"
                         f"base = transformers.AutoModelForCausalLM.from_pretrained({directory!r}, "
                         f"attn_implementation='eager')\n"
                         f"save(peft.PeftModel.from_pretrained(base, {str(tmp_path / 'peft')!r}))", ids[:64])
    assert np.abs(theirs - adapted).max() < 1e-4
