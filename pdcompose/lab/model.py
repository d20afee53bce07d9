"""What a lab is made of, and the names of everything it creates (so `down` can find them after a crash)."""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pdcompose.errors import PdcomposeError

STATE_ROOT = Path("/var/lib/pdcompose-lab")   # data-roots, keys, logs: on disk, may be large
RUN_ROOT = Path("/run/pdlab")                 # exec-roots and sockets: short paths (a unix socket has 108 bytes)
NAME = re.compile(r"^[a-z][a-z0-9]{0,5}$")   # short: it goes into interface names (15 bytes at most)
DEFAULT_SUBNET = "198.19.0.0/24"              # RFC 2544's benchmarking range: never a real network
FIRST_HOST = 10                               # host i is .(10 + i); .1 the bridge, .2 the operator
MAX_HOSTS = 200


class LabError(PdcomposeError):
    """The lab could not be made, changed or removed; the message says what is left and the fix."""


@dataclass(frozen=True)
class LabHost:
    lab: str
    index: int
    address: str

    @property
    def name(self) -> str:
        return f"n{self.index}"

    @property
    def netns(self) -> str:
        return f"pdlab-{self.lab}-{self.index}"

    @property
    def context(self) -> str:
        return f"pdlab-{self.lab}-{self.name}"

    @property
    def veth(self) -> str:
        return f"pdlv{self.lab}-{self.index}"

    @property
    def home(self) -> Path:
        return STATE_ROOT / self.lab / self.name

    @property
    def run(self) -> Path:
        return RUN_ROOT / self.lab / self.name

    @property
    def socket(self) -> str:
        return f"unix://{self.run}/docker.sock"

    @property
    def cgroup_parent(self) -> str:
        return f"pdlab-{self.lab}-{self.name}"


@dataclass
class Lab:
    name: str
    subnet: str
    hosts: list[LabHost] = field(default_factory=list)
    operator: bool = False
    ssh_delay_ms: int = 0

    @property
    def home(self) -> Path:
        return STATE_ROOT / self.name

    @property
    def bridge(self) -> str:
        return f"pdlb-{self.name}"

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)

    @property
    def gateway(self) -> str:
        return str(self.network.network_address + 1)

    @property
    def operator_netns(self) -> str:
        return f"pdlab-{self.name}-op"

    @property
    def operator_address(self) -> str:
        return str(self.network.network_address + 2)

    @property
    def operator_veth(self) -> str:
        return f"pdlv{self.name}-op"

    @property
    def key(self) -> Path:
        return self.home / "id_ed25519"

    @property
    def ssh_config(self) -> Path:
        return Path.home() / ".ssh" / "pdcompose-lab" / f"{self.name}.conf"

    def host(self, name: str) -> LabHost:
        for h in self.hosts:
            if name in (h.name, h.context, h.address):
                return h
        known = ", ".join(h.name for h in self.hosts)
        raise LabError(f"lab '{self.name}' has no host '{name}' (its hosts: {known})")

    def save(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        data = {**asdict(self), "hosts": [asdict(h) for h in self.hosts]}
        tmp = self.home / "lab.json.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.home / "lab.json")


def plan_lab(name: str, count: int, subnet: str = DEFAULT_SUBNET, operator: bool = True) -> Lab:
    """The lab's layout, checked before anything is created."""
    if not NAME.match(name):
        raise LabError(f"lab name {name!r}: 1 to 6 lowercase letters or digits, starting with a letter "
                       "(it goes into interface names)")
    if not 1 <= count <= MAX_HOSTS:
        raise LabError(f"a lab has 1 to {MAX_HOSTS} hosts, not {count}")
    try:
        network = ipaddress.IPv4Network(subnet)
    except ValueError as exc:
        raise LabError(f"--subnet {subnet!r}: {exc}") from None
    if network.num_addresses < FIRST_HOST + count + 1:
        raise LabError(f"--subnet {subnet} is too small for {count} hosts (.{FIRST_HOST} onwards)")
    hosts = [LabHost(name, i, str(network.network_address + FIRST_HOST + i)) for i in range(count)]
    return Lab(name, str(network), hosts, operator)


def load_lab(name: str) -> Lab | None:
    path = STATE_ROOT / name / "lab.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    hosts = [LabHost(**h) for h in data.pop("hosts")]
    return Lab(hosts=hosts, **data)


def require_lab(name: str) -> Lab:
    lab = load_lab(name)
    if lab is None:
        raise LabError(f"no lab '{name}' is up here (pdcompose lab up N --name {name})")
    return lab
