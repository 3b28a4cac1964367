#!/usr/bin/env bash
# Run the demo through `snakemake --profile profiles/slurm` on a real one-node SLURM cluster
# on localhost, run it locally too, and compare every output file (hashes; logs and
# benchmarks excepted). Exit status 0 only when both runs complete and match.
#   bash tests/slurm/run_demo_on_slurm.sh [WORK_DIR]
# KEEP_LOCAL=1 reuses WORK_DIR/local from an earlier call (skips the local run).
# Needs root (it starts munged, slurmctld and slurmd; see start_local_slurm.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${1:-/var/tmp/slidemap-slurm-check}
if [ "${KEEP_LOCAL:-0}" = 1 ] && [ -d "$work/local/results" ]; then
  rm -rf "$work/slurm"
else
  rm -rf "$work"
  KEEP_LOCAL=0
fi
mkdir -p "$work"

copy_repo() {
  mkdir -p "$1"
  (cd "$repo" && tar cf - Snakefile workflow scripts config profiles resources envs src) | tar xf - -C "$1"
}
[ "$KEEP_LOCAL" = 1 ] || copy_repo "$work/local"
copy_repo "$work/slurm"

bash "$here/start_local_slurm.sh"
trap 'bash "$here/stop_local_slurm.sh"' EXIT

if [ "$KEEP_LOCAL" != 1 ]; then
  echo "== local run: snakemake --cores 2"
  start=$(date +%s)
  (cd "$work/local" && python -m snakemake --cores 2 > "$work/local.log" 2>&1)
  echo "local run: $(( $(date +%s) - start )) s"
fi

echo "== SLURM run: snakemake --profile profiles/slurm"
start=$(date +%s)
(cd "$work/slurm" && python -m snakemake --profile profiles/slurm --jobs 4 --max-threads "$(nproc)" > "$work/slurm.log" 2>&1)
echo "SLURM run: $(( $(date +%s) - start )) s"
n_jobs=$(grep -c "Job .* has been submitted with SLURM jobid" "$work/slurm.log" || true)
echo "jobs submitted to SLURM: $n_jobs"
[ "$n_jobs" -gt 0 ] || { echo "no job went through SLURM"; exit 1; }

python - "$work/local/results/demo" "$work/slurm/results/demo" <<'PY'
import hashlib, sys
from pathlib import Path

def hashes(root):
    root = Path(root)
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).as_posix().startswith(("logs/", "benchmarks/"))
    }

a, b = hashes(sys.argv[1]), hashes(sys.argv[2])
only = sorted(set(a) ^ set(b))
differ = sorted(k for k in set(a) & set(b) if a[k] != b[k])
print(f"files compared: {len(set(a) & set(b))}; identical: {len(set(a) & set(b)) - len(differ)}")
for k in only:
    print(f"only in one run: {k}")
for k in differ:
    print(f"differs: {k}")
sys.exit(1 if only or differ else 0)
PY
echo "SLURM run matches the local run"
