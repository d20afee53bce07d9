#!/usr/bin/env bash
# Build the local base image every pdcompose image starts FROM, with no registry:
# debootstrap a minimal Debian from the machine's own apt mirror, then `docker import` it.
# Reused when present: the base changes only when this script (or the architecture) does (a label).
#
# PDCOMPOSE_BASE_ARCH (Docker's name, e.g. arm64; set by images/build.sh ARCH=...): another architecture
# than this machine's. debootstrap --foreign, then its second stage under qemu-<arch>-static (build.sh
# has checked it is registered with binfmt_misc); the result is built FROM scratch with --platform,
# because `docker import` records the engine's own architecture whatever the files are (Engine 20.10).
set -euo pipefail

TAG=${PDCOMPOSE_BASE_IMAGE:-pdcompose/base:bookworm}
SUITE=${PDCOMPOSE_BASE_SUITE:-bookworm}
ARCH=${PDCOMPOSE_BASE_ARCH:-}
HERE=$(cd "$(dirname "$0")" && pwd)
RECIPE_HASH=$({ sha256sum "$HERE/build-base.sh"; echo "arch ${ARCH:-native}"; } | sha256sum | cut -c1-16)

existing=$(docker image inspect --format '{{ index .Config.Labels "io.pdcompose.recipe" }}' "$TAG" 2>/dev/null || true)
if [ "$existing" = "$RECIPE_HASH" ]; then
  echo "base image $TAG is up to date"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  else
    echo "error: debootstrap is missing; install it (sudo apt-get install debootstrap) and re-run" >&2
    exit 1
  fi
fi

# The mirror apt already uses on this machine: the only Debian source reachable without a registry.
mirror=$(grep -rhoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
[ -n "$mirror" ] || mirror=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
INCLUDE=python3,python3-venv,ca-certificates
if [ -n "$ARCH" ]; then
  case $ARCH in amd64) qemu=qemu-x86_64-static ;; arm64) qemu=qemu-aarch64-static ;;
                *) echo "error: PDCOMPOSE_BASE_ARCH=$ARCH: use amd64 or arm64" >&2; exit 2 ;; esac
  echo "debootstrap $SUITE for $ARCH from $mirror (emulated second stage: several minutes)"
  { debootstrap --arch "$ARCH" --foreign --variant=minbase --include="$INCLUDE" "$SUITE" "$work/rootfs" "$mirror" \
    && install -m 0755 "/usr/bin/$qemu" "$work/rootfs/usr/bin/$qemu" \
    && chroot "$work/rootfs" /debootstrap/debootstrap --second-stage \
    && rm -f "$work/rootfs/usr/bin/$qemu"; } >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
else
  echo "debootstrap $SUITE from $mirror (about a minute)"
  debootstrap --variant=minbase --include="$INCLUDE" \
    "$SUITE" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
fi
rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/cache/apt/*.bin \
       "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/usr/share/doc/* "$work"/rootfs/usr/share/man/*
if [ -n "$ARCH" ]; then
  mkdir "$work/ctx"   # ADD unpacks the tar and runs nothing: no emulation needed for this step
  tar --numeric-owner --exclude='./dev/*' -C "$work/rootfs" -cf "$work/ctx/rootfs.tar" .
  cat >"$work/ctx/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL io.pdcompose.recipe=$RECIPE_HASH
CMD ["/bin/bash"]
EOF
  DOCKER_BUILDKIT=0 docker build -q --platform "linux/$ARCH" -t "$TAG" "$work/ctx" >/dev/null
else
  tar --numeric-owner -C "$work/rootfs" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL io.pdcompose.recipe=$RECIPE_HASH" \
    --change 'CMD ["/bin/bash"]' - "$TAG" >/dev/null
fi
docker run --rm "$TAG" python3 -c 'import sys; print("base image ready: python", sys.version.split()[0])'
