#!/usr/bin/env bash
# A one-node Slurm cluster on localhost for the integration stage: munged, slurmctld and slurmd as root, 2 CPUs,
# everything (key, config, state, logs, sockets, pid files) under one folder.
#
#   tests/integration/slurm_cluster.sh up DIR     # starts the daemons; then `export SLURM_CONF=DIR/slurm.conf`
#   tests/integration/slurm_cluster.sh down DIR   # stops the daemons it started (by the pids in DIR), keeps DIR
#
# Needs Debian's slurm-wlm and munge (apt-get install -y slurm-wlm munge) and root.
set -euo pipefail
cmd=${1:?usage: slurm_cluster.sh up|down DIR} dir=${2:?usage: slurm_cluster.sh up|down DIR}

stop() {  # SIGTERM each daemon by its pid file, then wait (at most 20 s) for it to go
  for name in slurmd slurmctld munged; do
    [ -s "$dir/$name.pid" ] || continue
    pid=$(cat "$dir/$name.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/$name.pid"
  done
}

if [ "$cmd" = down ]; then stop; exit 0; fi
[ "$cmd" = up ] || { echo "slurm_cluster.sh: unknown command '$cmd' (up or down)" >&2; exit 2; }

mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir" "$dir/munge"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
node=localhost  # a name that resolves everywhere: JAX puts the coordinator on the first node of the job

mungekey --create --force --keyfile="$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/munge.seed"

cat > "$dir/slurm.conf" <<CONF
ClusterName=jaxlmci
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
InactiveLimit=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=$node NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf
slurmctld -i
slurmd -N "$node"
for _ in $(seq 150); do  # at most 30 s until the node takes jobs
  if sinfo -h -N -o %t 2>/dev/null | grep -qx idle; then exit 0; fi
  sleep 0.2
done
echo "slurm_cluster.sh: the node never became idle; see $dir/slurmctld.log and $dir/slurmd.log" >&2
stop
exit 1
