# Sourced by the scripts that reproduce the README's tables (results.sh, calora_results.sh): set
# up and build (both idempotent), then `bin`, `ranks` (RANKS, default 2), `split` (SPLIT,
# default test) and `mpi ARGS…`, which runs ttl-train on that many ranks, unbound so each rank
# may use more than one BLAS thread.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
swift build -c release --product ttl-train >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

bin=.build/release/ttl-train
ranks=${RANKS:-2}
split=${SPLIT:-test}
mpi() { mpirun -np "$ranks" --bind-to none "$bin" "$@"; }
