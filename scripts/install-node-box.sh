#!/bin/sh
# Installs what the test node-box (test/e2e/node-box.ts) needs: a containerd with its ctr
# client, runc, and a static busybox to build the test image from. Debian/Ubuntu only; root only.
# Idempotent: does nothing when every tool is already present.
set -eu
need=""
command -v containerd >/dev/null 2>&1 || need="$need containerd"
command -v ctr >/dev/null 2>&1 || need="$need containerd"
command -v runc >/dev/null 2>&1 || need="$need runc"
[ -x /bin/busybox ] || command -v busybox >/dev/null 2>&1 || need="$need busybox-static"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-node-box: need root to install:$need" >&2
  exit 2
fi
command -v apt-get >/dev/null 2>&1 || { echo "install-node-box: no apt-get to install:$need" >&2; exit 3; }
export DEBIAN_FRONTEND=noninteractive
# An update first: a fresh image may have no package lists at all.
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need >/dev/null
