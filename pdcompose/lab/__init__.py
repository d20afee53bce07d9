"""A lab of real Docker hosts on this machine, like `kind` for Kubernetes: each host has its own network
namespace and address on a bridge the lab creates, its own Docker daemon (own data-root and image store)
and an OpenSSH server, reached through a Docker context `ssh://root@<address>`.

It acts on this machine only (root), never on a deployment's hosts: `up`, `down`, and the faults an
operator must survive (a host lost, a partition, a stopped daemon, a refused key, a slow link).
"""
