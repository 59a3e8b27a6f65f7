#!/usr/bin/env bash
# Installs Patroni and etcd (Debian packages patroni, etcd-server) when either binary is missing.
# Called by .ci/run before the suite and by test/support/patroni-cluster.ts; a no-op when both exist.
set -euo pipefail
if command -v patroni >/dev/null 2>&1 && command -v etcd >/dev/null 2>&1; then exit 0; fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"
  else echo "install-patroni.sh: patroni/etcd missing and not root (no password-less sudo): install patroni etcd-server" >&2; exit 1; fi
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
       && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold patroni etcd-server; } >"$log" 2>&1; then
  echo "install-patroni.sh: apt-get could not install patroni etcd-server:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
for b in patroni patronictl etcd; do
  command -v "$b" >/dev/null 2>&1 || { echo "install-patroni.sh: $b still missing after apt-get install" >&2; tail -n 40 "$log" >&2; exit 1; }
done
