#!/usr/bin/env bash
# A one-machine Slurm cluster in a temporary folder, for tests and for trying `exp run --launcher
# slurm` without a cluster: munged with its own key and socket, slurmctld, and one slurmd
# (`slurmd -N localhost`) with two partitions: `debug` (the default, no time limit) and `short`
# (MaxTime 10 minutes, enforced at submission, so an over-long --time is refused as on a real
# cluster). No accounting storage (so no sacct), no cgroups, no systemd; it runs as the current
# user, who is also SlurmUser (root in CI containers).
#
#   scripts/slurm-cluster.sh start [DIR]   starts it (DIR default: a new mktemp -d folder) and prints
#                                          the environment to use it, e.g. SLURM_CONF=DIR/slurm.conf,
#                                          as shell assignments (eval "$(scripts/slurm-cluster.sh start)")
#   scripts/slurm-cluster.sh stop DIR      stops the daemons started in DIR and removes DIR
#
# Needs Debian's slurm-wlm (slurmctld, slurmd, sbatch, squeue, scontrol, scancel) and munge.
# Exits 3 with a reason on stderr when they are missing or the cluster does not come up.
set -uo pipefail
# the daemons live in sbin, which a non-root PATH may lack
export PATH="$PATH:/usr/sbin:/sbin"

need() { command -v "$1" >/dev/null 2>&1 || { echo "slurm-cluster: $1 not found (apt-get install slurm-wlm munge)" >&2; exit 3; }; }

stop() {
  local dir=$1
  [ -d "$dir" ] || return 0
  for p in slurmd slurmctld munged; do
    if [ -f "$dir/$p.pid" ]; then
      local pid
      pid=$(cat "$dir/$p.pid")
      # only a process that is still ours (its command line names this folder's files)
      if [ -n "$pid" ] && grep -qa "$dir" "/proc/$pid/cmdline" 2>/dev/null; then kill "$pid" 2>/dev/null; fi
    fi
  done
  for _ in $(seq 50); do
    local alive=0
    for p in slurmd slurmctld munged; do
      [ -f "$dir/$p.pid" ] && kill -0 "$(cat "$dir/$p.pid")" 2>/dev/null && grep -qa "$dir" "/proc/$(cat "$dir/$p.pid")/cmdline" 2>/dev/null && alive=1
    done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  rm -rf "$dir"
}

start() {
  need munged; need slurmctld; need slurmd; need sbatch; need squeue; need scontrol
  local dir=${1:-$(mktemp -d "${TMPDIR:-/tmp}/exp-slurm.XXXXXX")}
  mkdir -p "$dir"/{state,spool,log}
  chmod 700 "$dir"
  local user; user=$(id -un)
  local mem; mem=$(awk '/MemTotal/ { print int($2 / 1024 / 2) }' /proc/meminfo)
  local cpus; cpus=$(nproc)
  # ports from the folder's name, so two clusters on one machine do not collide
  local base=$(( 20000 + $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 20000 ))

  dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge.key"
  munged --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" --pid-file="$dir/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/munged.seed" >"$dir/log/munged.out" 2>&1 \
    || { echo "slurm-cluster: munged did not start: $(tail -3 "$dir/log/munged.log" "$dir/log/munged.out" 2>/dev/null | tr '\n' ' ')" >&2; stop "$dir"; exit 3; }

  cat >"$dir/slurm.conf" <<EOF
ClusterName=exp-test
SlurmctldHost=localhost
SlurmctldPort=$base
SlurmdPort=$((base + 1))
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.socket,cred_expire=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
EnforcePartLimits=ALL
MinJobAge=86400
KillWait=5
SchedulerParameters=sched_interval=1
MessageTimeout=10
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MaxArraySize=1001
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=localhost MaxTime=00:10:00 State=UP
EOF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -f "$SLURM_CONF" -i >"$dir/log/slurmctld.out" 2>&1 \
    || { echo "slurm-cluster: slurmctld did not start: $(tail -3 "$dir/log/slurmctld.log" "$dir/log/slurmctld.out" 2>/dev/null | tr '\n' ' ')" >&2; stop "$dir"; exit 3; }
  slurmd -f "$SLURM_CONF" -N localhost >"$dir/log/slurmd.out" 2>&1 \
    || { echo "slurm-cluster: slurmd did not start: $(tail -3 "$dir/log/slurmd.log" "$dir/log/slurmd.out" 2>/dev/null | tr '\n' ' ')" >&2; stop "$dir"; exit 3; }
  # up when the node is idle
  for _ in $(seq 100); do
    if sinfo -h -n localhost -o '%t' 2>/dev/null | grep -q '^idle'; then
      echo "SLURM_CONF=$dir/slurm.conf"
      echo "EXP_SLURM_CLUSTER_DIR=$dir"
      return 0
    fi
    sleep 0.2
  done
  echo "slurm-cluster: the node did not become idle in 20 s: $(tail -3 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" 2>/dev/null | tr '\n' ' ')" >&2
  stop "$dir"
  exit 3
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) [ -n "${2:-}" ] || { echo "usage: $0 stop DIR" >&2; exit 2; }; stop "$2" ;;
  *) echo "usage: $0 start [DIR] | stop DIR" >&2; exit 2 ;;
esac
