#!/usr/bin/env bash
# The benchmark's native tools, from Debian: h2load (nghttp2-client), the load
# generator, and etcd (etcd-server), the reference cluster of scenario E.
# Installs what is missing when we may (root with apt-get); otherwise says
# what to install.
set -euo pipefail
missing=()
command -v h2load >/dev/null || missing+=(nghttp2-client)
command -v etcd >/dev/null || missing+=(etcd-server)
[ "${#missing[@]}" = 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${missing[*]} for the benchmark" >&2
  apt-get update -qq >/dev/null
  # etcd-server's maintainer scripts would start a service: without systemd (or
  # with policy-rc.d saying no) they skip that, and the install still succeeds.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  command -v h2load >/dev/null && command -v etcd >/dev/null && exit 0
  echo "the benchmark's tools did not install: ${missing[*]}" >&2
  exit 1
fi
echo "the benchmark needs ${missing[*]}: sudo apt-get install -y ${missing[*]}" >&2
exit 1
