#!/bin/sh
# Builds nodewarden's image from the top-level Dockerfile with buildah (no Docker engine needed),
# tagged nodewarden:<package.json version>, and optionally writes it to an archive that
# containerd imports (`ctr -n k8s.io images import FILE`).
#
# Bases: by default the self-assembled ones (scripts/image/build-base.sh: Debian from the host's
# mirror + Node from the npm registry), built first when missing or out of date; with --registry-
# bases, the Dockerfile's own defaults (docker.io/library/node:24-bookworm and -slim); or any pair
# with --build-base REF --run-base REF.
#
# Usage: scripts/image/build-image.sh [--registry-bases | --build-base REF --run-base REF]
#          [--tag REF]... [--label KEY=VALUE]... [--archive FILE] [--archive-format docker|oci]
#   --tag REF         the image's name (repeatable; default nodewarden:<version>); the first one is
#                     the name written in the archive
#   --label K=V       a label added to the Dockerfile's own (repeatable)
#   --archive FILE    also write the image to FILE: docker-archive by default (what containerd
#                     1.6's `ctr images import` reads), oci-archive with --archive-format oci
# Environment: NODEWARDEN_IMAGE_STORAGE (buildah's storage, default /var/tmp/nodewarden-image/
# storage), DEBIAN_MIRROR / DEBIAN_SECURITY_MIRROR (for the bases). npm's registry and CA file
# are the host's (`npm config get registry`, `cafile`), handed to the build.
# Root only (buildah with the vfs driver and chroot isolation); tools: install-tools.sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
repo=$(cd "$here/../.." && pwd)

bases=local build_base="" run_base="" tags="" labels="" archive="" format=docker
nl='
'
while [ $# -gt 0 ]; do
  case "$1" in
    --registry-bases) bases=registry ;;
    --build-base) [ $# -ge 2 ] || nw_die "--build-base needs a value"; bases=given build_base=$2; shift ;;
    --run-base) [ $# -ge 2 ] || nw_die "--run-base needs a value"; bases=given run_base=$2; shift ;;
    --tag) [ $# -ge 2 ] || nw_die "--tag needs a value"; tags="$tags $2"; shift ;;
    --label) [ $# -ge 2 ] || nw_die "--label needs a value"; labels="$labels$2$nl"; shift ;;
    --archive) [ $# -ge 2 ] || nw_die "--archive needs a value"; archive=$2; shift ;;
    --archive-format) [ $# -ge 2 ] || nw_die "--archive-format needs a value"; format=$2; shift ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | sed -n 's/^# \{0,1\}//p'; exit 0 ;;
    *) nw_die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done
case "$format" in docker|oci) ;; *) nw_die "--archive-format is docker or oci, not $format" ;; esac
if [ "$bases" = given ] && { [ -z "$build_base" ] || [ -z "$run_base" ]; }; then
  nw_die "--build-base and --run-base go together"
fi
nw_need_root
command -v buildah >/dev/null 2>&1 || nw_die "buildah is missing (scripts/image/install-tools.sh installs it)"

started=$(date +%s)
version=$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$repo/package.json" | head -n 1)
[ -n "$version" ] || nw_die "no version in $repo/package.json"
[ -n "$tags" ] || tags="nodewarden:$version"
revision=unknown
if git -C "$repo" rev-parse HEAD >/dev/null 2>&1; then
  revision=$(git -C "$repo" rev-parse HEAD)
  [ -z "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ] || revision="$revision-dirty"
fi

if [ "$bases" = local ]; then
  "$here/build-base.sh"
  build_base=$BASE_BUILD_REF run_base=$BASE_RUN_REF
fi

set -- --isolation chroot --network host --format oci \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
if [ "$bases" != registry ]; then
  set -- "$@" --pull=false --build-arg BUILD_BASE="$build_base" --build-arg RUN_BASE="$run_base"
fi
# The host's npm registry when it is not the default, and the CAs it trusts (a TLS-inspecting
# proxy's among them) as a build secret: never part of a layer.
if command -v npm >/dev/null 2>&1; then
  registry=$(npm config get registry 2>/dev/null || true)
  case "$registry" in ''|https://registry.npmjs.org|https://registry.npmjs.org/) ;; *) set -- "$@" --build-arg NPM_REGISTRY="$registry" ;; esac
  cafile=$(npm config get cafile 2>/dev/null || true)
fi
case "${cafile:-}" in ''|null|undefined) cafile=${NODE_EXTRA_CA_CERTS:-} ;; esac
[ -n "${cafile:-}" ] && [ -s "$cafile" ] && set -- "$@" --secret id=npm_ca,src="$cafile"
for t in $tags; do set -- "$@" --tag "$t"; done
# Labels may hold spaces: one a line.
while IFS= read -r l; do [ -n "$l" ] && set -- "$@" --label "$l"; done <<LABELS
$labels
LABELS

nw_log "building $(echo $tags) from $build_base${build_base:+ / }${run_base:-the Dockerfile's registry bases}"
nw_buildah build "$@" --file "$repo/Dockerfile" "$repo"
# The image this build replaced under the same tag is left without a name: with the vfs driver
# it costs its full size on disk, so it goes (this storage holds only these scripts' images).
nw_buildah rmi --prune >/dev/null 2>&1 || true
first=$(echo $tags | cut -d' ' -f1)

if [ -n "$archive" ]; then
  mkdir -p "$(dirname "$archive")"
  rm -f "$archive" "$archive.partial"
  # A docker-archive names the image inside it; containerd's import takes the name from there.
  if [ "$format" = docker ]; then
    nw_buildah push --quiet "$first" "docker-archive:$archive.partial:$first"
  else
    nw_buildah push --quiet "$first" "oci-archive:$archive.partial:$first"
  fi
  mv "$archive.partial" "$archive"
  nw_log "wrote $archive ($format-archive, $(du -m "$archive" | cut -f1) MB)"
fi
size=$(nw_buildah images --format '{{.Size}}' "$first" 2>/dev/null | head -n 1)
nw_log "built $first ($size) in $(( $(date +%s) - started )) s"
