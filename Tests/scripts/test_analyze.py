"""scripts/analyze.py on metrics files laid out as ttl-train writes them, one of them still open
for SWMR writing (a live run)."""
import os
import subprocess
import sys

import h5py
import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_run(directory, job, kind, trainable, steps, accuracy):
    """A metrics.h5 like MetricsLog's; returns the file still open in SWMR write mode."""
    os.makedirs(directory)
    f = h5py.File(os.path.join(directory, "metrics.h5"), "w", libver="latest")
    f.attrs.update({"format": "ttl-train-metrics", "format_version": np.int64(1), "job": job, "adapter_kind": kind,
                    "trainable_parameters": np.int64(trainable), "reduced_bytes_per_step": np.int64(8 * trainable + 32)})
    step = np.arange(1, steps + 1, dtype=np.int64)
    columns = {"train": {"step": step, "loss": 2.0 / step, "lr": np.full(steps, 1e-3), "grad_norm": np.ones(steps),
                         "tokens_per_s": np.full(steps, 150.0), "seconds": np.ones(steps)},
               "eval": {"step": np.array([steps], dtype=np.int64), "loss": np.array([0.4]), "accuracy": np.array([accuracy])}}
    for group, values in columns.items():
        for name, data in values.items():
            f.create_dataset(f"{group}/{name}", data=data, maxshape=(None,), chunks=True)
    f.swmr_mode = True
    return f


def test_plots_and_table_from_two_runs_one_still_writing(tmp_path):
    finished = write_run(str(tmp_path / "lora"), "sentiment-lora", "lora", 460800, 6, 0.85)
    finished.close()
    live = write_run(str(tmp_path / "ttlora"), "sentiment-ttlora", "tt-lora", 34560, 4, 0.84)
    try:
        result = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "analyze.py"), str(tmp_path / "lora"),
                                 str(tmp_path / "ttlora"), "--out", str(tmp_path / "out")], capture_output=True, text=True)
    finally:
        live.close()
    assert result.returncode == 0, result.stderr
    for name in ("training.png", "eval.png", "comparison.png"):
        with open(tmp_path / "out" / name, "rb") as f:
            assert f.read(8) == PNG_SIGNATURE, name
    table = (tmp_path / "out" / "results.md").read_text().splitlines()
    assert table[0].startswith("| run | job | adapter | steps |")
    assert table[2].startswith("| lora | sentiment-lora | lora | 6 | 0.3333 | 6 | 0.4000 | 0.8500 | 460,800 | 3,686,432 | 150 |")
    assert table[3].startswith("| ttlora | sentiment-ttlora | tt-lora | 4 | 0.5000 | 4 | 0.4000 | 0.8400 | 34,560 | 276,512 | 150 |")


def test_a_directory_without_metrics_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "analyze.py"), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0
    assert result.stderr.strip() == f"analyze.py: {tmp_path}/metrics.h5: no such file (is {tmp_path} a ttl-train run directory?)"


def read_events(path):
    """The scalars of a TensorBoard event file: TFRecord framing (length, CRC, data, CRC) around
    Event protocol buffers, read with the protobuf classes tensorboardX ships."""
    import struct
    from tensorboardX.proto import event_pb2

    scalars = []
    with open(path, "rb") as f:
        data = f.read()
    offset = 0
    while offset < len(data):
        (length,) = struct.unpack("<Q", data[offset:offset + 8])
        event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
        offset += 12 + length + 4
        for value in event.summary.value:
            if value.HasField("simple_value"):
                scalars.append((value.tag, event.step, round(value.simple_value, 6), event.wall_time))
    return scalars


def test_tensorboard_event_files_hold_every_column_at_its_time(tmp_path):
    run = write_run(str(tmp_path / "lora"), "sentiment-lora", "lora", 460800, 3, 0.85)
    run.close()
    with h5py.File(tmp_path / "lora" / "metrics.h5", "a", libver="latest") as f:
        f.attrs["eval_examples"] = np.int64(64)
        f.create_dataset("train/timestamp", data=np.array([1.7e9 + 1, 1.7e9 + 2, 1.7e9 + 3]), maxshape=(None,), chunks=True)
        f.create_dataset("eval/timestamp", data=np.array([1.7e9 + 4]), maxshape=(None,), chunks=True)
    result = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "analyze.py"), str(tmp_path / "lora"), "--out",
                             str(tmp_path / "out"), "--tensorboard", str(tmp_path / "tb")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    files = os.listdir(tmp_path / "tb" / "lora")
    assert len(files) == 1 and files[0].startswith("events.out.tfevents."), files
    scalars = read_events(str(tmp_path / "tb" / "lora" / files[0]))
    assert ("train/loss", 2, 1.0, 1.7e9 + 2) in scalars
    assert ("train/tokens_per_s", 3, 150.0, 1.7e9 + 3) in scalars
    assert ("eval/accuracy", 3, 0.85, 1.7e9 + 4) in scalars
    assert sorted({tag for tag, _, _, _ in scalars}) == ["eval/accuracy", "eval/loss", "train/grad_norm", "train/loss", "train/lr",
                                                        "train/seconds", "train/tokens_per_s"]
