"""The topology `pdcompose init` writes: the guide's layout for a recipe, with every field explained."""

from __future__ import annotations

from pathlib import Path
from string import Template

from pdcompose.errors import PdcomposeError
from pdcompose.topology.presets import builtin, load_recipe_chain

STARTER = Template("""\
# pdcompose topology: prefill/decode-disaggregated vLLM over Docker hosts.
# Edit the hosts and addresses, then:
#   pdcompose validate && pdcompose plan --commands && pdcompose render
#   pdcompose doctor && pdcompose deploy        (or rehearse first: pdcompose deploy --rehearsal)
# Schema for editor completion: pdcompose schema -o pdcompose.schema.json
name: my-cluster
recipe: $recipe
model: $model
image: vllm/vllm-openai:v0.13.0     # the same image on prefill and decode (NIXL/UCX must match)
hf_cache: /mnt/hf-cache             # host path, mounted at the same path; HF_HOME points at it
hf_token: {from_env: HF_TOKEN}      # read from your environment at deploy time; never written

defaults:
  profile: $profile
  interface: eth0                   # the NIC of the addresses below (NCCL/GLOO/NVSHMEM bootstrap)

hosts:                              # Docker context = host name unless you set `context:`
  node-0: {address: 10.0.0.10}
  node-1: {address: 10.0.0.11}
  node-2: {address: 10.0.0.12}
  node-3: {address: 10.0.0.13}
  node-4: {address: 10.0.0.14}
  node-5: {address: 10.0.0.15}
  node-6: {address: 10.0.0.16, gpus: []}

prefill:                            # each instance: its nodes, first = data-parallel master
  - nodes: [node-0, node-1]
  - nodes: [node-2, node-3]
decode:
  - nodes: [node-4, node-5]

router:
  host: node-6
  port: 8123
""")


def starter_topology(recipe: str) -> str:
    if recipe not in builtin("recipes"):
        raise PdcomposeError(f"unknown preset '{recipe}'; built-in: {', '.join(builtin('recipes'))}")
    chain = load_recipe_chain(recipe, Path.cwd())
    model = next((r.model for r in reversed(chain) if r.model), "your/model")
    profile = next((r.profile for r in reversed(chain) if r.profile), "gb200")
    return STARTER.substitute(recipe=recipe, model=model, profile=profile)
