# syntax=docker/dockerfile:1
# ChatterBox container image: the release server, its hash.txt and its site on Debian bookworm-slim,
# run as an unprivileged user (uid 10001), with its SQLite database and uploads in the /data volume.
# docs/deployment.md, "Containers", shows how to build, run and compose it.
#
# Two final stages, the same image but for where the release build comes from:
#
#   runtime (the default)  compiles it in the `build` stage: the pinned toolchain (rust-toolchain.toml)
#                          on the public Rust image, wasm-opt and esbuild from npm, and the workspace's
#                          own site build (`cargo xtask build`, xtask/: no cargo-leptos to compile).
#                          Needs Docker Hub (rust, node, debian images).
#       docker build -t chatterbox .          (or podman build -t chatterbox .)
#
#   runtime-prebuilt       copies a release build already made on the host, from the build context:
#                          target/release/server, target/release/hash.txt and target/site, made with
#                          `LEPTOS_SITE_ROOT=target/site scripts/build.sh --release --precompress` on
#                          a system with glibc 2.36 or older (Debian 12). Needs only the runtime base.
#       podman build --target runtime-prebuilt -t chatterbox .
#
# scripts/container-test.sh builds runtime-prebuilt on a Debian base made with debootstrap
# (--build-arg RUNTIME_IMAGE=localhost/debian:bookworm-slim), since no image can be pulled where it
# runs. The `build` stage is written to run unchanged wherever the public images can be pulled; it has
# not been run on the machines this repository is tested on.

ARG RUST_IMAGE=docker.io/library/rust:1.95.0-bookworm
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

# --- node, for npm's binaryen (wasm-opt) and esbuild, which release builds use (scripts/install-tools.sh) ---
FROM ${NODE_IMAGE} AS node

# --- build: the release server and site, from source --------------------------------------------
FROM ${RUST_IMAGE} AS build
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
WORKDIR /src
# The tools first, in a layer of their own: rebuilt only when their versions change.
COPY rust-toolchain.toml ./
COPY scripts/install-tools.sh scripts/
RUN scripts/install-tools.sh
COPY . .
RUN --mount=type=cache,id=chatterbox-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=chatterbox-target,target=/src/target,sharing=locked \
    LEPTOS_SITE_ROOT=target/site cargo xtask build --release --precompress \
 && mkdir -p /out \
 && cp target/release/server target/release/hash.txt /out/ \
 && cp -a target/site /out/site

# --- runtime-base: everything but the release build -----------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime-base
# CA certificates: the server verifies TLS (S3, PostgreSQL) with the system's roots.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
 && groupadd --gid 10001 chatterbox \
 && useradd --uid 10001 --gid chatterbox --home-dir /data --no-create-home --shell /usr/sbin/nologin chatterbox \
 && mkdir -p /app /data/files \
 && chown -R chatterbox:chatterbox /data
COPY deploy/entrypoint.sh /app/entrypoint.sh
ENV LEPTOS_SITE_ADDR=0.0.0.0:3000 \
    LEPTOS_SITE_ROOT=/app/site \
    DATABASE_URL=sqlite:///data/chatterbox.db \
    CHATTERBOX_FILES_URL=file:///data/files \
    RUST_LOG=info,sqlx=warn
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000
# `server healthcheck` asks this server's /readyz (port from LEPTOS_SITE_ADDR): no curl in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["/app/server", "healthcheck"]
# Serving refuses to start without JWT_SECRET; `docker run IMAGE admin ...` runs an admin command.
ENTRYPOINT ["/app/entrypoint.sh"]

# The release build goes in last, owned by root (read-only to the server); hash.txt must sit beside
# the executable.

# --- runtime-prebuilt: with the host's release build (--target runtime-prebuilt) -----------------
FROM runtime-base AS runtime-prebuilt
COPY target/release/server target/release/hash.txt /app/
COPY target/site /app/site

# --- runtime: with the build stage's (the default target) ---------------------------------------
FROM runtime-base AS runtime
COPY --from=build /out/server /out/hash.txt /app/
COPY --from=build /out/site /app/site
