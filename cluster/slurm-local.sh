#!/usr/bin/env bash
# Starts a single-host Slurm (partition `local`) on this machine for tests and trying out
# cluster/evosearch.sbatch: installs slurm-wlm and munge if missing, writes
# /etc/slurm/slurm.conf, starts munged, slurmctld and slurmd directly (no systemd), and waits
# until the node is up. Idempotent: a second run changes nothing and takes about a second.
#
#   sudo bash cluster/slurm-local.sh            # node with 16 CPUs (oversubscribes small hosts)
#   sudo EVOSEARCH_SLURM_CPUS=4 bash cluster/slurm-local.sh
#
# Then e.g. `srun --mpi=pmix -n 3 hostname` or `sbatch cluster/evosearch.sbatch`.
# Logs: /var/log/slurm/{slurmctld,slurmd}.log, /var/log/munge/munged.log.
set -euo pipefail

log() { printf '\033[1m[slurm-local]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts daemons)"

HOST="$(hostname -s)"
CPUS="${EVOSEARCH_SLURM_CPUS:-16}"
[[ "$CPUS" =~ ^[1-9][0-9]*$ ]] || die "EVOSEARCH_SLURM_CPUS must be a positive integer, got '$CPUS'"
CONF=/etc/slurm/slurm.conf

# --- packages ---------------------------------------------------------------------------------
# slurm-wlm: slurmctld, slurmd, client commands, and slurm-wlm-basic-plugins, which holds
#   mpi_pmix.so (srun --mpi=pmix). That plugin dlopen()s the unversioned libpmix.so, which only
#   libpmix-dev ships (libopenmpi-dev depends on it anyway); libpmix2 alone is not enough.
# openmpi-bin/libopenmpi-dev: Debian's Open MPI 4.1.4 (mpicc, mpirun), built against PMIx 4.
PACKAGES=(slurm-wlm munge libpmix-dev openmpi-bin libopenmpi-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  # Keep the packages' init scripts from starting daemons during installation (they would fail
  # without slurm.conf and make dpkg fail); this script starts them itself below.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ -n "$(trap -p EXIT)" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
fi

# --- munge ------------------------------------------------------------------------------------
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating /etc/munge/munge.key"
  runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "starting munged"
  # As the munge user, like Debian's unit; --force: start even if a stale socket is left over.
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 50); do
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
  munge -n </dev/null | unmunge >/dev/null || die "munged is not answering; see /var/log/munge/munged.log"
fi

# --- slurm.conf -------------------------------------------------------------------------------
# Memory Slurm may hand out: MemTotal in MiB, rounded down to whole GiB (stable across runs).
MEM_MB=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 / 1024 * 1024 ))
[ "$MEM_MB" -ge 1024 ] || MEM_MB=1
# Slurm must resolve the host name; fall back to loopback where /etc/hosts lacks it.
NODE_ADDR=""
CTLD_HOST="$HOST"
if ! getent hosts "$HOST" >/dev/null; then
  NODE_ADDR=" NodeAddr=127.0.0.1"
  CTLD_HOST="$HOST(127.0.0.1)"
fi

read -r -d '' WANT <<EOF || true
# Written by evosearch cluster/slurm-local.sh: single-host Slurm. Edits are overwritten.
ClusterName=evosearch-local
SlurmctldHost=$CTLD_HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire: also how long a requeued job waits before it may start again (default 120 s).
AuthInfo=cred_expire=30
CredType=cred/munge
# No cgroups (containers usually lack a writable cgroup tree): processes tracked via /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
# No mail command in a container; Slurm logs an error at every start without this.
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Trust the CPU count below even where the hardware has fewer (oversubscribed test node).
SlurmdParameters=config_overrides
# A node that went DOWN (e.g. slurmd restarted) becomes usable again on its own.
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldTimeout=300
SlurmdTimeout=300
MessageTimeout=60
BatchStartTimeout=60
KillWait=30
UnkillableStepTimeout=180
InactiveLimit=0
MinJobAge=300
Waittime=0
NodeName=$HOST$NODE_ADDR CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF

install -d -m 0755 /etc/slurm /var/log/slurm
install -d -m 0755 /var/spool/slurmctld /var/spool/slurmd
changed=0
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$WANT" ]; then
  log "writing $CONF ($HOST, $CPUS CPUs)"
  printf '%s\n' "$WANT" >"$CONF.tmp"
  chmod 0644 "$CONF.tmp"
  mv "$CONF.tmp" "$CONF"
  changed=1
fi

# --- daemons ----------------------------------------------------------------------------------
# pid of a running daemon from its pid file, or nothing.
daemon_pid() {
  local pid
  pid="$(cat "/run/$1.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = "$1" ]; then echo "$pid"; fi
}
stop_daemon() {
  local pid
  pid="$(daemon_pid "$1")"
  [ -n "$pid" ] || return 0
  log "stopping $1 (pid $pid) for the new configuration"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
  die "$1 (pid $pid) did not stop within 30 s"
}
start_daemon() {
  [ -z "$(daemon_pid "$1")" ] || return 0
  log "starting $1"
  "/usr/sbin/$1" || { tail -n 5 "/var/log/slurm/$1.log" >&2 || true; die "$1 failed to start; see /var/log/slurm/$1.log"; }
}

# slurmd reads the CPU topology from sysfs (hwloc); a bare chroot has no /sys mounted.
if [ ! -d /sys/devices/system/cpu ]; then
  log "mounting sysfs on /sys (slurmd needs the CPU topology)"
  mkdir -p /sys
  mount -t sysfs sysfs /sys || die "/sys is not mounted and mounting sysfs failed; slurmd cannot start"
fi

# slurmd's cgroup plugin (v1 autodetected) wants /sys/fs/cgroup with a "systemd" hierarchy;
# machines and containers have one, a bare chroot has none.
if ! mountpoint -q /sys/fs/cgroup; then
  log "mounting a cgroup hierarchy on /sys/fs/cgroup (slurmd needs one)"
  mkdir -p /sys/fs/cgroup
  mount -t tmpfs -o mode=755 cgroup_root /sys/fs/cgroup || die "cannot mount /sys/fs/cgroup"
  mkdir -p /sys/fs/cgroup/systemd
  mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd || die "cannot mount a cgroup hierarchy"
fi

if [ "$changed" -eq 1 ]; then
  stop_daemon slurmd
  stop_daemon slurmctld
fi
start_daemon slurmctld
start_daemon slurmd

# --- wait for the node ------------------------------------------------------------------------
state=""
deadline=$(( SECONDS + 60 ))
while :; do
  state="$(sinfo -h -p local -n "$HOST" -o %t 2>/dev/null | head -n1 || true)"
  case "$state" in
    idle|mix|alloc|comp) break ;;
    down|drain|drng|fail|failg|inval)
      # Not responding states end in '*'; these are set by an admin or a restart: clear them.
      scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true ;;
  esac
  for d in slurmctld slurmd; do
    [ -n "$(daemon_pid "$d")" ] || die "$d exited; last lines of /var/log/slurm/$d.log:
$(tail -n 15 "/var/log/slurm/$d.log" 2>/dev/null || true)"
  done
  [ "$SECONDS" -lt "$deadline" ] || die "node $HOST not up after 60 s (state '${state:-no answer}'); see /var/log/slurm/"
  sleep 1
done

echo "slurm-local: partition local on $HOST with $CPUS CPUs is up ($state)"
