#!/usr/bin/env bash
# tests/mpi/run.sh: runs a program under mpirun for the MPI tests, on one
# machine, as root if need be, with a watchdog.
#
#   tests/mpi/run.sh NRANKS TRANSPORT [MPIRUN-OPTION...] -- PROGRAM [ARG...]
#
# TRANSPORT is Open MPI's BTL list: "vader,self" (shared memory) or
# "tcp,self" (TCP on the loopback interface only); "-" leaves the default
# and the environment alone (set OMPI_MCA_btl and *_if_include yourself for
# other interfaces, e.g. between network namespaces). Options before "--" go
# to mpirun (e.g. --enable-recovery). Exits 77 (skip) when mpirun is absent.
# MP_MPI_WATCHDOG (seconds, default 120) bounds the whole run: timeout then
# SIGKILLs mpirun 5 s after its SIGTERM.
set -u
if [ $# -lt 4 ]; then
  echo "usage: $0 NRANKS TRANSPORT [MPIRUN-OPTION...] -- PROGRAM [ARG...]" >&2
  exit 2
fi
n=$1 transport=$2
shift 2
opts=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  opts+=("$1")
  shift
done
[ "${1:-}" = "--" ] && shift
if ! command -v mpirun >/dev/null 2>&1; then
  echo "SKIP: mpirun is not installed (scripts/setup.sh installs openmpi-bin)"
  exit 77
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Two cores shared by many ranks: ranks yield when idle.
export OMPI_MCA_mpi_yield_when_idle=1
if [ "$transport" != "-" ]; then
  export OMPI_MCA_btl="$transport"
  # The TCP transport on loopback only (no other interface exists in CI
  # containers, and a namespace has only lo).
  case "$transport" in
    *tcp*) export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo ;;
  esac
fi
root=()
if mpirun --version 2>/dev/null | grep -qi "open mpi"; then
  root=(--oversubscribe --allow-run-as-root)
fi
# Open MPI's session files and shared-memory segments go into a folder of
# this run, removed after it: a rank killed by a test leaves its segment
# behind otherwise (in /dev/shm).
work=$(mktemp -d "${TMPDIR:-/tmp}/mpirun.XXXXXX") || exit 1
export OMPI_MCA_orte_tmpdir_base="$work" OMPI_MCA_btl_vader_backing_directory="$work"
timeout -k 5 "${MP_MPI_WATCHDOG:-120}" mpirun "${root[@]}" "${opts[@]}" -n "$n" "$@"
rc=$?
rm -rf "$work"
exit $rc
