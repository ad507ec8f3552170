# syntax=docker/dockerfile:1
# Build: docker build -t gha-ingest .      Run: see deploy/ and the README.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY tests tests
COPY migrations migrations
COPY config config
RUN cargo build --release --locked -p gha-ingest

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/gha-ingest gha-ingest \
 && mkdir -p /var/lib/gha-ingest && chown gha-ingest /var/lib/gha-ingest
COPY --from=build /src/target/release/gha-ingest /usr/local/bin/gha-ingest
USER gha-ingest
WORKDIR /var/lib/gha-ingest
ENV GHA_INGEST__STORE__PATH=/var/lib/gha-ingest/state.sqlite \
    GHA_INGEST__QUEUE__EMBEDDED__PATH=/var/lib/gha-ingest/queue.sqlite
VOLUME ["/var/lib/gha-ingest"]
ENTRYPOINT ["/usr/local/bin/gha-ingest"]
CMD ["run"]
