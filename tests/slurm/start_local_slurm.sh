#!/usr/bin/env bash
# Start a real one-node SLURM cluster (slurmctld + slurmd + munge) on localhost, as root.
# Used by tests/slurm/run_demo_on_slurm.sh; follows ../shared/docs/LOCAL_SLURM.md.
# Writes the daemons' pids to $SLURM_STATE/pids so stop_local_slurm.sh can stop them.
# SLURM_MAX_JOB_MB=4000 caps the memory one job may ask for (the partition's MaxMemPerNode:
# with EnforcePartLimits=ALL sbatch refuses a larger --mem), as on a cluster of small nodes.
set -euo pipefail
SLURM_STATE=${SLURM_STATE:-/var/tmp/slidemap-slurm}
max_job=${SLURM_MAX_JOB_MB:+ MaxMemPerNode=${SLURM_MAX_JOB_MB}}
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
mkdir -p "$SLURM_STATE" /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
host=$(hostname)
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

# munge: key, folders, daemon
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
  su -s /bin/sh munge -c "/usr/sbin/munged"
fi
munge -n | unmunge | grep -q "STATUS:          Success"

cat > /etc/slurm/slurm.conf <<CONF
ClusterName=slidemap-local
SlurmctldHost=${host}
SlurmUser=root
AuthType=auth/munge
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerType=sched/backfill
EnforcePartLimits=ALL
MpiDefault=none
NodeName=${host} CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=main Nodes=${host} Default=YES MaxTime=INFINITE State=UP${max_job}
CONF

pgrep -x slurmctld >/dev/null || /usr/sbin/slurmctld
sleep 2
pgrep -x slurmd >/dev/null || /usr/sbin/slurmd
for _ in $(seq 30); do
  if sinfo -h -o "%T" 2>/dev/null | grep -qE "idle|mixed"; then break; fi
  sleep 1
done
sinfo
{ pgrep -x slurmctld; pgrep -x slurmd; pgrep -x munged; } > "$SLURM_STATE/pids"
echo "local SLURM cluster up: node ${host}, ${cpus} CPUs, ${mem_mb} MB${max_job:+, a job at most ${SLURM_MAX_JOB_MB} MB}"
