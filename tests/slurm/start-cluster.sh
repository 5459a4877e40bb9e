#!/usr/bin/env bash
# Start a one-node Slurm cluster on localhost for tests/test_slurm.py (Debian 12, root, no systemd).
#
# Idempotent: installs what is missing, (re)writes the config only when it changed, starts only the daemons that are
# not running (restarts them when the config changed), and returns once `sinfo` shows the node idle.
#
#   node      localhost (127.0.0.1), CPUs and RealMemory from `slurmd -C` (this machine), one gres gpu
#   gpu       a dummy character device /dev/fakegpu0 declared in gres.conf: `--gpus=1` is scheduled and the job gets
#             CUDA_VISIBLE_DEVICES=0; there is no CUDA, so seqtune falls back to the CPU (and logs a warning)
#   partition "local" (the default partition)
#   accounting none (no slurmdbd): `sacct` does not work, so the test polls with `--slurm-status-command squeue`;
#             MinJobAge keeps finished jobs visible to squeue/scontrol for 30 minutes
#
# Stop it with tests/slurm/stop-cluster.sh. See tests/slurm/README.md.
set -euo pipefail

NODE=localhost
PARTITION=local
GPU_DEVICE=/dev/fakegpu0
CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
STATE_DIR=/var/lib/slurm/slurmctld
SPOOL_DIR=/var/lib/slurm/slurmd
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_PID=/run/munge/munged.pid
MARKER="# Written by seqtune tests/slurm/start-cluster.sh: a one-node test cluster."

log() { echo "start-cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts daemons)"

alive() {  # alive PIDFILE: the process named in PIDFILE is running (a zombie, which PID 1 may never reap, is not)
    local pid state
    pid=$(cat "$1" 2>/dev/null) && [[ -n $pid ]] && state=$(ps -o stat= -p "$pid") && [[ $state != Z* ]]
}

# 1. Packages (Debian 12: slurm 22.05). A policy-rc.d keeps the packages from starting services on install.
missing=()
command -v slurmctld >/dev/null || missing+=(slurmctld)
command -v slurmd >/dev/null || missing+=(slurmd)
command -v sbatch >/dev/null || missing+=(slurm-client)
command -v munged >/dev/null || missing+=(munge)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    created_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
    ((created_policy)) && rm -f /usr/sbin/policy-rc.d
fi

# 2. Munge: a key, its runtime directory, and the daemon (run as the munge user, as the package intends).
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! alive "$MUNGE_PID"; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
fi
for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
munge -n | unmunge >/dev/null || die "munge does not work"

# 3. The dummy GPU device that gres.conf points at.
[[ -e $GPU_DEVICE ]] || mknod -m 0666 "$GPU_DEVICE" c 1 3  # the major/minor of /dev/null: harmless if opened

# 4. Configuration. The node's shape is what slurmd sees on this machine.
hw=$(slurmd -C | head -1)
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$hw"; }
CPUS=$(field CPUs)
SOCKETS=$(field SocketsPerBoard)
CORES=$(field CoresPerSocket)
THREADS=$(field ThreadsPerCore)
MEMORY=$(field RealMemory)
[[ -n $CPUS && -n $MEMORY ]] || die "could not read the machine's shape from 'slurmd -C': $hw"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/slurm.conf" <<EOF
$MARKER
ClusterName=seqtune-test
SlurmctldHost=$NODE
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
# No accounting storage (no slurmdbd): sacct does not work here; squeue and scontrol do.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue/scontrol for 30 minutes: the plugin's squeue status checks and the test's
# 'scontrol show job' both rely on it (the plugin falls back to sacct when MinJobAge < 3 x its first check delay).
MinJobAge=1800
ReturnToService=2
MailProg=/bin/true
SchedulerType=sched/backfill
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS Sockets=$SOCKETS CoresPerSocket=$CORES ThreadsPerCore=$THREADS RealMemory=$MEMORY Gres=gpu:1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
cat >"$tmp/gres.conf" <<EOF
$MARKER
NodeName=$NODE Name=gpu File=$GPU_DEVICE
EOF

changed=0
install -d -m 0755 "$CONF_DIR" "$LOG_DIR" "$STATE_DIR" "$SPOOL_DIR"
for name in slurm.conf gres.conf; do
    target=$CONF_DIR/$name
    if ! cmp -s "$tmp/$name" "$target"; then
        if [[ -e $target ]] && ! grep -qF "$MARKER" "$target"; then
            log "keeping the existing $target as $target.seqtune-backup"
            cp -p "$target" "$target.seqtune-backup"
        fi
        install -m 0644 "$tmp/$name" "$target"
        changed=1
    fi
done

# 5. Daemons, started by hand (no systemd). A changed config restarts the ones running.
stop() {  # stop NAME PIDFILE
    if alive "$2"; then
        log "restarting $1 (config changed)"
        kill "$(cat "$2" 2>/dev/null)" 2>/dev/null || true
        for _ in $(seq 100); do alive "$2" || break; sleep 0.1; done
    fi
}
if ((changed)); then
    stop slurmd "$SLURMD_PID"
    stop slurmctld "$CTLD_PID"
fi
start() {  # start NAME PIDFILE COMMAND...: start a daemon and make sure it stays up
    local name=$1 pidfile=$2
    shift 2
    alive "$pidfile" && return 0
    log "starting $name"
    "$@"
    for _ in $(seq 30); do alive "$pidfile" && break; sleep 0.1; done
    sleep 1  # a daemon that cannot start dies within a second of writing its pid file
    if ! alive "$pidfile"; then
        tail -n 15 "$LOG_DIR/$name.log" >&2 || true
        die "$name did not start (log: $LOG_DIR/$name.log)"
    fi
}
start slurmctld "$CTLD_PID" slurmctld
start slurmd "$SLURMD_PID" slurmd -N "$NODE"

# 6. Wait (at most 60 s) for the node to be idle; a node left down or drained by an earlier run is resumed.
state=""
for i in $(seq 60); do
    state=$(timeout 5 sinfo -h -n "$NODE" -o %t 2>/dev/null | head -1 || true)
    case $state in
        idle | mix | alloc) break ;;
        down* | drain* | drng*)
            if ((i % 5 == 1)); then timeout 5 scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true; fi ;;
    esac
    alive "$CTLD_PID" || break
    sleep 1
done
if [[ $state != idle && $state != mix && $state != alloc ]]; then
    timeout 5 sinfo -N -l >&2 || true
    tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
    die "node $NODE is '${state:-unreachable}', not idle"
fi
timeout 5 sinfo
log "cluster up: partition $PARTITION, node $NODE ($CPUS CPUs, ${MEMORY} MB, 1 gres gpu on $GPU_DEVICE)"
