"""Names and numbers shared by the planner, the image builder and the tests: one place each."""

from pdcompose import __version__

BASE_IMAGE = "pdcompose/base:bookworm"           # images/build-base.sh: debootstrap + docker import
MOCK_VLLM_IMAGE = f"pdcompose/mock-vllm:{__version__}"
ROUTER_VERSION = "0.1.17"                        # vllm-router from PyPI; the protocol notes are for it
ROUTER_IMAGE = f"pdcompose/vllm-router:{ROUTER_VERSION}"

PROMETHEUS_VERSION = "2.42.0"                    # Debian bookworm's prometheus package (ships promtool)
PROMETHEUS_IMAGE = f"pdcompose/prometheus:{PROMETHEUS_VERSION}"   # images/build.sh prometheus

IMAGE_LABEL_INPUTS = "io.pdcompose.inputs"       # content hash of an image's build inputs
