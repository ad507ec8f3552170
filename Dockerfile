# The gha-ingest image: `gha-ingest run` as uid 10001 on a read-only root, all state on one volume.
#
# From source (the default target, `runtime`), from the repository root:
#   DOCKER_BUILDKIT=1 docker build -t gha-ingest .
# From a binary built elsewhere (target `runtime-prebuilt`; CI does this on a base image it makes
# with debootstrap, see scripts/deploy-checks/container.sh): the build context is a directory
# holding only the executable, named `gha-ingest`:
#   DOCKER_BUILDKIT=1 docker build -f Dockerfile --target runtime-prebuilt \
#     --build-arg BASE_IMAGE=gha-ingest-base:bookworm-minbase -t gha-ingest DIR
# Run (the daemon refuses a non-loopback listen without a read token; deploy/container/README.md):
#   docker run --read-only --cap-drop ALL -v gha-ingest-data:/var/lib/gha-ingest \
#     -e GITHUB_TOKEN -e GHA_INGEST_READ_TOKEN -e GHA_INGEST__QUEUE__BACKEND=sqs ... gha-ingest
#
# No `# syntax=` line and no heredocs: Debian's docker.io reads this with the Dockerfile frontend
# built into its BuildKit, and a build without registry access cannot fetch a newer one.

# Base images, pinned by the digest of their multi-platform index; the tag is for the reader.
# Digests as published in docker-library/repo-info (the Docker official images' own record):
#   debian:bookworm-slim = bookworm-20260918-slim, repos/debian/remote/bookworm-20260918-slim.md
#   rust:1.98.0-bookworm (then also rust:1-bookworm), repos/rust/remote/1.98.0-bookworm.md
# BASE_IMAGE must be Debian bookworm (the binary is built against its glibc 2.36); a base without
# ca-certificates gets it from apt at build time.
ARG BASE_IMAGE=debian:bookworm-slim@sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251
ARG RUST_IMAGE=rust:1.98.0-bookworm@sha256:82150a52ec202c1b14d7817e14516c392bb7f5cfebd88f1ed531cb37ebd39922

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Only what `cargo build -p gha-ingest` reads; `tests` is a workspace member, so its manifest
# must be present.
COPY Cargo.toml Cargo.lock ./
COPY config config
COPY migrations migrations
COPY crates crates
COPY tests tests
# The registry and target caches survive between builds on one builder; the binary is copied out
# of the cache mount, which is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p gha-ingest \
 && install -D -m 0755 target/release/gha-ingest /out/gha-ingest

FROM ${BASE_IMAGE} AS runtime-base
# The binary needs glibc and the CA bundle (rustls reads the system roots for GitHub and AWS).
# ca-certificates is left unpinned on purpose: a pinned version leaves the mirror at the next
# point release and breaks the build, and the trust store is the one package that should follow
# Debian's updates. The pinned base digest fixes everything else.
# hadolint ignore=DL3008
RUN set -eu; \
    if [ "$(dpkg-query --show --showformat='${db:Status-Status}' ca-certificates 2>/dev/null)" != installed ]; then \
      apt-get update; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    groupadd --gid 10001 gha-ingest; \
    useradd --uid 10001 --gid 10001 --home-dir /var/lib/gha-ingest --no-create-home \
      --shell /usr/sbin/nologin gha-ingest; \
    install -d -o 10001 -g 10001 -m 0750 /var/lib/gha-ingest

# Declared after the RUN: a build argument in scope is part of every later RUN's cache key, and
# CREATED changes with each build.
ARG BASE_IMAGE
ARG VERSION=unknown
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="gha-ingest" \
      org.opencontainers.image.description="GitHub Actions runs, jobs, steps, commits and logs as JSON events on AWS SQS" \
      org.opencontainers.image.source="https://github.com/gha-ingest/gha-ingest" \
      org.opencontainers.image.url="https://github.com/gha-ingest/gha-ingest" \
      org.opencontainers.image.documentation="https://github.com/gha-ingest/gha-ingest/blob/main/deploy/README.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

# Every file the daemon writes lives under the volume: the state database (cursors, outbox), the
# embedded queue when used, the log spools beside the state database. The root stays read-only.
# MALLOC_ARENA_MAX: glibc gives threads that meet a busy arena arenas of their own, and each keeps
# what it once held; two (the daemon's tokio workers and SQLite threads share them) took a
# backfill's peak RSS from about 46 MiB to 39 MiB at no measurable CPU (docs/performance.md).
ENV GHA_INGEST__HTTP__LISTEN=0.0.0.0:8080 \
    GHA_INGEST__STORE__PATH=/var/lib/gha-ingest/state.sqlite \
    GHA_INGEST__QUEUE__EMBEDDED__PATH=/var/lib/gha-ingest/queue.sqlite \
    MALLOC_ARENA_MAX=2
WORKDIR /var/lib/gha-ingest
VOLUME ["/var/lib/gha-ingest"]
EXPOSE 8080
# Numeric, so orchestrators can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
# The daemon drains on SIGTERM within daemon.shutdown_grace_secs (25): keep the runtime's stop
# timeout above it (`docker stop --time 30`, Kubernetes' default 30 s).
STOPSIGNAL SIGTERM
# No curl in the image: the binary probes its own /healthz, at the address http.listen names.
HEALTHCHECK --interval=30s --timeout=10s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/gha-ingest", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gha-ingest"]
CMD ["run"]

# A binary built outside (CI's release build): the context holds just `gha-ingest`.
FROM runtime-base AS runtime-prebuilt
COPY gha-ingest /usr/local/bin/gha-ingest

# The default: built from source in the `build` stage.
FROM runtime-base AS runtime
COPY --from=build /out/gha-ingest /usr/local/bin/gha-ingest
