#!/usr/bin/env bash
# Runs every test of ttl-train: the Swift unit tests, the multi-process tests under mpirun with 2,
# 3 and 4 ranks, the tests of the Python scripts, and the batch script on a real one-node Slurm.
# Sets up the machine first if needed (scripts/setup.sh is idempotent). Prints a summary; exits
# non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh || { echo "test.sh: setup failed"; exit 1; }

# Tests that need the real model, the venv or mpirun fail instead of skipping here.
export TTL_REQUIRE_ASSETS=1 TTL_REQUIRE_VENV=1
# The tests check the BLAS kernel ttl-train picks for this CPU (and set OPENBLAS_CORETYPE
# themselves where they test that a user's choice wins): a value the machine's environment
# carries (some images set Haswell everywhere) would make every process run the user's choice.
unset OPENBLAS_CORETYPE
# Open MPI refuses to run as root (CI and containers) unless told it is intended.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

passed=0
failed=0
summary=()
step() {
  local name=$1
  shift
  echo "==> $name"
  local started=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    summary+=("  PASS  $name ($((SECONDS - started)) s)")
  else
    failed=$((failed + 1))
    summary+=("  FAIL  $name ($((SECONDS - started)) s)")
  fi
}

# The test classes that run under mpirun as well: they compare against values that do not
# depend on the world size.
MPI_TEST_CLASSES=(DistributedTests.CollectiveTests TrainingTests.GradientReducerTests TrainingTests.TrainerTests
                  TrainingTests.PackingTests CompressionTests.CompressionAwareTrainingTests)

# Runs each MPI test class under mpirun with $1 ranks; fails if a filter matched no test on some
# rank, so a renamed test class cannot turn the multi-process tests into a silent no-op.
mpi_tests() {
  local ranks=$1 filter log status executed
  for filter in "${MPI_TEST_CLASSES[@]}"; do
    log=$(mktemp)
    timeout 300 mpirun --oversubscribe -np "$ranks" .build/release/ttl-trainPackageTests.xctest "$filter" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    executed=$(grep -cE "Executed [1-9][0-9]* tests?, with 0 failures" "$log")
    rm -f "$log"
    [ "$status" -eq 0 ] && [ "$executed" -ge "$ranks" ] || return 1
  done
}

# Starts a one-node Slurm (scripts/slurm_local.sh installs slurm-wlm and munge from Debian if
# missing), runs the Slurm tests against it — cluster/train.sbatch submitted for real, preempted
# and requeued — and stops the daemons; fails unless both tests ran and passed.
slurm_tests() {
  local dir log status executed
  dir=$(mktemp -d /tmp/ttl-slurm.XXXXXX)
  log=$(mktemp)
  status=0
  if scripts/slurm_local.sh start "$dir"; then
    SLURM_CONF=$dir/slurm.conf TTL_REQUIRE_SLURM=1 timeout 600 \
      swift test -c release --skip-build --disable-swift-testing --filter CLITests.SlurmTests 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
  else
    status=1
  fi
  scripts/slurm_local.sh stop "$dir"
  executed=$(grep -cE "Executed 2 tests, with 0 failures" "$log")
  rm -rf "$dir" "$log"
  [ "$status" -eq 0 ] && [ "$executed" -ge 1 ]
}

# Release mode: the model tests run real forward passes, which the unoptimised build makes ~50×
# slower; -O keeps preconditions and overflow checks.
step "build (release, with tests)" swift build -c release --build-tests
if [ "$failed" -eq 0 ]; then
  step "swift test" swift test -c release --skip-build --disable-swift-testing
  for ranks in 2 3 4; do
    step "mpirun -np $ranks (${MPI_TEST_CLASSES[*]})" mpi_tests "$ranks"
  done
  step "python script tests" .venv/bin/python -m pytest -q -p no:cacheprovider Tests/scripts
  step "slurm (one-node cluster, cluster/train.sbatch)" slurm_tests
fi
# Every `import` must be a dependency its target declares (SwiftPM builds an undeclared one when
# the build order happens to allow it).
step "declared imports (scripts/check_imports.py)" python3 scripts/check_imports.py

echo
echo "test.sh summary:"
printf '%s\n' "${summary[@]}"
echo "test.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
