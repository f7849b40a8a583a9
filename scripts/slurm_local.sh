#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for testing cluster/train.sbatch for real:
#
#   scripts/slurm_local.sh start DIR   # installs slurm-wlm and munge (Debian) if missing, writes
#                                      # DIR/slurm.conf, starts munged, slurmctld and slurmd
#   scripts/slurm_local.sh stop DIR    # stops the daemons it started
#
# Then `export SLURM_CONF=DIR/slurm.conf` and use sbatch, srun, squeue as on any cluster. Needs
# root (the daemons run as root here). The configuration is Debian's defaults where they matter to
# users — MpiDefault=none, no task/affinity — so the batch script is tested as a site would run it.
set -euo pipefail
action=${1:?usage: scripts/slurm_local.sh start|stop DIR}
dir=$(mkdir -p "${2:?usage: scripts/slurm_local.sh start|stop DIR}" && cd "$2" && pwd)
export SLURM_CONF=$dir/slurm.conf

# Whether process $1 runs (a zombie does not: where PID 1 reaps nothing, killed daemons stay as
# zombies that `kill -0` and plain `pgrep` still find).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Stops this cluster's slurmctld and slurmd (from their pid files) and waits for them to go.
stop_slurm() {
  local pids=()
  for daemon in slurmd slurmctld; do
    [ -f "$dir/$daemon.pid" ] && pids+=("$(cat "$dir/$daemon.pid")")
    rm -f "$dir/$daemon.pid"
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 100); do
    local running=0
    for pid in "${pids[@]}"; do alive "$pid" && running=1; done
    [ "$running" -eq 1 ] || return 0
    sleep 0.1
  done
  kill -9 "${pids[@]}" 2>/dev/null || true
}

if [ "$action" = stop ]; then
  stop_slurm
  if [ -f "$dir/munged.started" ]; then
    pkill -x munged 2>/dev/null || true
    rm -f "$dir/munged.started"
  fi
  exit 0
fi
[ "$action" = start ] || { echo "slurm_local.sh: unknown action '$action' (start or stop)" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "slurm_local.sh: installing slurm-wlm and munge"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# munge authenticates every Slurm message; one daemon per machine serves all clusters on it.
if ! pgrep -r D,R,S -x munged >/dev/null; then
  [ -s /etc/munge/munge.key ] || { /usr/sbin/mungekey --create 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; }
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge
  runuser -u munge -- /usr/sbin/munged
  touch "$dir/munged.started"
fi

host=$(hostname)
memory=$(awk '/MemTotal/ {print int($2 / 1024) - 512}' /proc/meminfo)
mkdir -p "$dir/state" "$dir/spool"
cat > "$dir/slurm.conf" <<CONF
ClusterName=ttltest
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobRequeue=1
NodeName=$host CPUs=$(nproc) RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

stop_slurm
/usr/sbin/slurmctld
/usr/sbin/slurmd
deadline=$((SECONDS + 30))
while [ $SECONDS -lt $deadline ]; do
  state=$(timeout 5 sinfo -h -N -o %t 2>/dev/null || true)
  if [ "$state" = idle ]; then
    echo "slurm_local.sh: one-node cluster up (SLURM_CONF=$SLURM_CONF)"
    exit 0
  fi
  sleep 0.2
done
echo "slurm_local.sh: the node did not become idle (state '${state:-none}'); see $dir/slurmctld.log and $dir/slurmd.log" >&2
exit 1
