#!/usr/bin/env bash
# System packages the tests use: Debian's python3-grpcio and python3-protobuf
# (an independent gRPC client on the C core), iproute2 and iptables (network
# namespaces and partitions for the fault suite), faketime (clock skew). Installs what is missing
# when we may (root with apt-get); otherwise says what to install.
set -euo pipefail
missing=()
/usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null || missing+=(python3-grpcio python3-protobuf)
command -v ip >/dev/null || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
command -v iptables >/dev/null || [ -x /usr/sbin/iptables ] || missing+=(iptables)
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || missing+=(faketime)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${missing[*]} for the tests" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "the tests need: sudo apt-get install -y ${missing[*]}" >&2
exit 1
