#!/usr/bin/env bash
# System packages the tests use: Debian's python3-grpcio and python3-protobuf
# (an independent gRPC client on the C core). Installs them when missing and
# we may (root with apt-get); otherwise says what to install.
set -euo pipefail
if /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing python3-grpcio and python3-protobuf for the interoperability test" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-grpcio python3-protobuf >/dev/null
  exit 0
fi
echo "the tests need Debian's python3-grpcio and python3-protobuf: sudo apt-get install -y python3-grpcio python3-protobuf" >&2
exit 1
