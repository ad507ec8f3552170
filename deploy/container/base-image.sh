#!/usr/bin/env bash
# Makes a Debian bookworm base image without a registry: `debootstrap --variant=minbase` from the
# machine's own Debian mirror, then `docker import`. CI builds the gha-ingest image on it
# (BASE_IMAGE) because no registry is reachable there; production builds use the digest-pinned
# debian:bookworm-slim named in the Dockerfile instead.
#
# minbase is the Essential set plus apt: no curl, no shell tools beyond coreutils. The daemon
# needs only glibc and the CA bundle (rustls reads the system roots for GitHub and AWS), so
# ca-certificates is the one package added.
#
# Usage: deploy/container/base-image.sh [TAG]        (default gha-ingest-base:bookworm-minbase)
# Env:   DEBIAN_MIRROR  the archive to bootstrap from (default: the first bookworm source apt uses)
#        DOCKER         the docker CLI (default /usr/bin/docker, Debian's docker.io client)
# Needs root (debootstrap chroots and creates device nodes). Takes about 40 s.
set -euo pipefail

tag="${1:-gha-ingest-base:bookworm-minbase}"
docker="${DOCKER:-/usr/bin/docker}"
suite=bookworm

if [ "$(id -u)" -ne 0 ]; then
  echo "error: $0 must run as root (debootstrap)" >&2
  exit 1
fi

# The mirror apt already trusts and reaches: a URI of a source carrying the bookworm suite (not
# bookworm-security or -updates, which debootstrap cannot start from). Both the one-line format
# (sources.list, *.list) and deb822 (*.sources) are read.
configured_mirror() {
  local file
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    # deb [options] URI SUITE COMPONENTS...
    awk -v suite="$suite" '
      $1 == "deb" {
        field = 2
        if ($field ~ /^\[/) { while ($field !~ /\]$/) field++; field++ }
        if ($(field + 1) == suite) { print $field; exit }
      }' "$file"
  done
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    # Stanzas separated by blank lines; a stanza qualifies if Types has deb and Suites has bookworm.
    awk -v suite="$suite" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uris != "") {
          split(uris, first, " "); print first[1]; found = 1
        }
        types = ""; suites = ""; uris = ""
      }
      /^[[:space:]]*$/ { flush(); if (found) exit; next }
      /^#/ { next }
      tolower($1) == "types:"  { $1 = ""; types = $0 }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      tolower($1) == "uris:"   { $1 = ""; uris = $0 }
      END { if (!found) flush() }' "$file"
  done
}

mirror="${DEBIAN_MIRROR:-$(configured_mirror | head -n 1)}"
mirror="${mirror:-http://deb.debian.org/debian}"

# debootstrap downloads with wget, which reads http_proxy but not apt's configuration: carry an
# apt-only proxy over so the bootstrap goes where apt goes.
if [ -z "${http_proxy:-}" ] && command -v apt-config >/dev/null; then
  apt_proxy=""
  eval "$(apt-config shell apt_proxy Acquire::http::Proxy)"
  if [ -n "$apt_proxy" ]; then
    export http_proxy="$apt_proxy"
  fi
fi

rootfs="$(mktemp -d /var/tmp/gha-ingest-rootfs.XXXXXX)"
trap 'rm -rf --one-file-system "$rootfs"' EXIT

echo "==> debootstrap --variant=minbase $suite from $mirror"
if ! debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" \
  >"$rootfs.log" 2>&1; then
  tail -n 30 "$rootfs.log" >&2
  rm -f "$rootfs.log"
  echo "error: debootstrap from $mirror failed (set DEBIAN_MIRROR to another mirror)" >&2
  exit 1
fi
rm -f "$rootfs.log"

# What a container never uses: package indexes and caches (the image is rebuilt, not upgraded in
# place), documentation, the host's resolver configuration that debootstrap copied in.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
  "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"

echo "==> docker import as $tag"
tar --numeric-owner --xattrs -C "$rootfs" -c . |
  "$docker" import \
    --change 'CMD ["bash"]' \
    --change "LABEL org.opencontainers.image.base.name=\"debootstrap --variant=minbase $suite\"" \
    --change "LABEL org.opencontainers.image.source=\"$mirror\"" \
    - "$tag" >/dev/null
"$docker" image inspect --format '{{.Id}} {{.Size}} bytes' "$tag"
