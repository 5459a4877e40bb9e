#!/usr/bin/env bash
# Stop the one-node test cluster started by tests/slurm/start-cluster.sh: cancel its jobs, then stop slurmd,
# slurmctld and munged through their pid files. Idempotent: does nothing for a daemon that is not running.
# Packages, config and state stay, so the next start-cluster.sh is quick.
set -euo pipefail

CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_PID=/run/munge/munged.pid

log() { echo "stop-cluster: $*" >&2; }

alive() {  # alive PIDFILE: the process named in PIDFILE is running (a zombie, which PID 1 may never reap, is not)
    local pid state
    pid=$(cat "$1" 2>/dev/null) && [[ -n $pid ]] && state=$(ps -o stat= -p "$pid") && [[ $state != Z* ]]
}

stop() {  # stop NAME PIDFILE
    if alive "$2"; then
        log "stopping $1"
        kill "$(cat "$2" 2>/dev/null)" 2>/dev/null || true
        for _ in $(seq 150); do alive "$2" || break; sleep 0.1; done
        if alive "$2"; then
            log "$1 did not stop in 15 s: killing it"
            kill -9 "$(cat "$2" 2>/dev/null)" 2>/dev/null || true
        fi
    fi
    rm -f "$2"
}

# Jobs still queued or running (a test that was interrupted) are cancelled first: their processes (slurmstepd) would
# outlive slurmd otherwise.
if alive "$CTLD_PID" && command -v squeue >/dev/null; then
    jobs=$(squeue -h -t PENDING,RUNNING,COMPLETING -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
        log "cancelling jobs: ${jobs//$'\n'/ }"
        # shellcheck disable=SC2086
        scancel $jobs 2>/dev/null || true
        for _ in $(seq 100); do
            [[ -z $(squeue -h -t PENDING,RUNNING,COMPLETING -o %i 2>/dev/null || true) ]] && break
            sleep 0.2
        done
    fi
fi

stop slurmd "$SLURMD_PID"
stop slurmctld "$CTLD_PID"
stop munged "$MUNGE_PID"
log "stopped"
