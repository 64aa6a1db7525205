#!/usr/bin/env bash
# A real SLURM on this machine, for tests and for trying the slurm profile without a cluster.
#   workflow/slurm/local-cluster.sh start DIR [NODES]
#                                               install slurm-wlm + munge if missing (Debian, needs root), write
#                                               DIR/slurm.conf, link it where srun finds it (/etc/slurm), start
#                                               munged, slurmctld and one slurmd per node, wait until every node is
#                                               idle. NODES (default 1): with 2 or more, nodes node1..nodeN share
#                                               this host's CPUs, each its own slurmd on 127.0.0.1 with its own port
#                                               (Debian's build runs several slurmd on one host), so multi-node jobs
#                                               (srun --nodes 2, torchrun across nodes) run for real
#   workflow/slurm/local-cluster.sh stop DIR    stop the daemons started from DIR and remove the /etc/slurm link to
#                                               its conf (client tools left pointing at a controller that is gone
#                                               make every SLURM query, and so the SLURM plugin's start-up, wait ~10 s)
# MinJobAge is large so that squeue still lists finished jobs (Snakemake's status command here: squeue).
set -euo pipefail
cmd=${1:?usage: local-cluster.sh start|stop DIR [NODES]}
dir=$(mkdir -p "${2:?usage: local-cluster.sh start|stop DIR [NODES]}" && cd "$2" && pwd)
nodes=${3:-1}

stop() {
    for pid in "$dir"/slurmd*.pid "$dir/slurmctld.pid"; do
        [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
    done
    sleep 1
}

unlink_conf() {
    if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$dir/slurm.conf" ]; then rm -f /etc/slurm/slurm.conf; fi
}

if [ "$cmd" = stop ]; then stop; unlink_conf; exit 0; fi
[ "$cmd" = start ] || { echo "unknown command $cmd (start|stop)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "local-cluster.sh: starting slurmd needs root" >&2; exit 3; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# munge: one key, the daemon as the munge user
if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge && chown munge:munge /run/munge
if ! munge -n >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged </dev/null >/dev/null 2>&1
    for _ in $(seq 20); do munge -n >/dev/null 2>&1 && break; sleep 0.5; done
fi

host=$(hostname -s)
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)   # the host's CPUs (nproc obeys OMP_NUM_THREADS, which test workers set)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
mkdir -p "$dir/state" "$dir/spool" "$dir/log"
if [ "$nodes" -gt 1 ]; then                          # node1..nodeN on this host: each sees all its CPUs (a job
    per_cpu=$cpus; per_mem=$(( mem / nodes ))       # asking for 2 threads fits any node), memory shared out
    names=$(seq -s, -f "node%g" 1 "$nodes")
    node_lines=$(for i in $(seq 1 "$nodes"); do
        echo "NodeName=node$i NodeHostname=$host NodeAddr=127.0.0.1 Port=$((16818 + i)) CPUs=$per_cpu RealMemory=$per_mem State=UNKNOWN"
    done)
else
    names=$host
    node_lines="NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN"
fi
cat > "$dir/slurm.conf" <<CONF
ClusterName=pst-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=86400
ReturnToService=2
SlurmctldPort=16817
SlurmdPort=16818
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
$node_lines
PartitionName=debug Nodes=$names Default=YES MaxTime=INFINITE State=UP
CONF
mkdir -p /etc/slurm
ln -sfn "$dir/slurm.conf" /etc/slurm/slurm.conf     # where srun inside a job finds it
export SLURM_CONF="$dir/slurm.conf"
stop
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    echo "local-cluster.sh: a slurmctld/slurmd not started from $dir is running; stop it first" >&2
    exit 4
fi
# daemons must not hold the caller's stdout/stderr open (a captured pipe would never reach EOF)
slurmctld -f "$dir/slurm.conf" </dev/null >/dev/null 2>&1
for name in ${names//,/ }; do
    mkdir -p "$dir/spool/$name"
    if [ "$nodes" -gt 1 ]; then slurmd -f "$dir/slurm.conf" -N "$name" </dev/null >/dev/null 2>&1
    else slurmd -f "$dir/slurm.conf" </dev/null >/dev/null 2>&1; fi
done
for _ in $(seq 60); do
    idle=$(timeout 5 sinfo -h -N -o %t 2>/dev/null | grep -c '^idle$' || true)
    [ "$idle" -ge "$nodes" ] && { echo "local SLURM up: $nodes node(s) ($names) on $host, $cpus CPUs, partition debug, conf $dir/slurm.conf"; exit 0; }
    sleep 0.5
done
echo "local-cluster.sh: the nodes did not become idle; see $dir/log" >&2
exit 1
