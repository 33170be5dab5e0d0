#!/usr/bin/env bash
# netns_agent.sh HOST CMD...: the "remote shell" that tests/mpi/netns.sh
# gives mpirun (--mca plm_rsh_agent), in place of ssh. HOST is a private
# address of the hostfile; $MP_NETNS_MAP ("addr=ns addr=ns ...", set by
# netns.sh) names the network namespace that plays that host. The command
# Open MPI sends is a shell string (as ssh would hand it to a login shell),
# so it runs under sh -c inside the namespace.
set -u
host="$1"; shift
ns=""
for pair in ${MP_NETNS_MAP:-}; do
  [ "${pair%%=*}" = "$host" ] && ns="${pair#*=}"
done
if [ -z "$ns" ]; then
  echo "netns_agent: no namespace plays host '$host' (MP_NETNS_MAP='${MP_NETNS_MAP:-}')" >&2
  exit 255
fi
exec ip netns exec "$ns" sh -c "$*"
