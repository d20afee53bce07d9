#!/usr/bin/env bash
# What `pdcompose lab` needs on this machine, from Debian's packages, installed only when missing:
# sshd and ssh (each lab host's server, the Docker CLI's ssh:// transport), fuse-overlayfs (the lab
# daemons' storage driver: layers are shared, not copied) and iptables (the lab's forwarding rule, the
# operator's SSH-only rule, partitions). Needs root; otherwise it says what is missing and goes on.
set -euo pipefail

need=()
[ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1 || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v fuse-overlayfs >/dev/null 2>&1 || need+=(fuse-overlayfs)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "pdcompose lab needs: ${need[*]} (apt-get install them as root; the lab tests skip without them)" >&2
  exit 0
fi
apt-get update -qq
# policy-rc.d: the package must not start a system sshd (the lab starts its own, one per host)
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
