#!/usr/bin/env bash
# The benchmark's native load generator: h2load, from Debian's nghttp2-client.
# Installs it when we may (root with apt-get); otherwise says what to install.
set -euo pipefail
command -v h2load >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing nghttp2-client (h2load) for the benchmark" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null
  exit 0
fi
echo "the benchmark needs h2load: sudo apt-get install -y nghttp2-client" >&2
exit 1
