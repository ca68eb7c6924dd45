#!/bin/sh
# buildah on the storage the image scripts use (vfs driver, its own root; see common.sh), so
# what they built can be looked at: scripts/image/buildah.sh images, … inspect nodewarden:0.1.0
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
nw_buildah "$@"
