#!/bin/sh
# Installs what scripts/image/ needs to build nodewarden's image without a Docker engine or an
# image registry: buildah (runs the Dockerfile, storage driver vfs, isolation chroot) and
# mmdebstrap (a Debian root filesystem for the self-assembled bases). Both are Debian packages;
# `mount` is how mmdebstrap's root mode mounts /proc and /dev in the tree it builds.
# Debian/Ubuntu only; root only. Idempotent: does nothing when every tool is already present.
set -eu
need=""
command -v buildah >/dev/null 2>&1 || need="$need buildah"
command -v mmdebstrap >/dev/null 2>&1 || need="$need mmdebstrap"
command -v mount >/dev/null 2>&1 || need="$need mount"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-tools: need root to install:$need" >&2
  exit 2
fi
command -v apt-get >/dev/null 2>&1 || { echo "install-tools: no apt-get to install:$need" >&2; exit 3; }
echo "install-tools: installing$need with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
# An update first: a fresh machine may have no package lists at all.
apt-get update -qq >/dev/null
# Recommends (fuse-overlayfs, slirp4netns, fakechroot…) serve rootless builds; as root with the
# vfs driver and chroot isolation none is used.
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $need >/dev/null
