#!/usr/bin/env bash
# Stop the daemons started by start_local_slurm.sh.
set -u
SLURM_STATE=${SLURM_STATE:-/var/tmp/slidemap-slurm}
[ -f "$SLURM_STATE/pids" ] && xargs -r kill < "$SLURM_STATE/pids" 2>/dev/null
rm -f "$SLURM_STATE/pids"
echo "local SLURM cluster stopped"
