"""Runs INSIDE a short-lived container on the host being checked: `python3 -c <this file> MODE JSON`.

Standard library only, and plain enough for any python3 >= 3.7 an image may carry (vLLM's, the mock's,
the router's). It prints one JSON object; deciding pass or fail is the caller's job.

  host   (--network host --pid host, host /dev at /host/dev): can the host's addresses and the plan's
         ports be bound; who holds a taken port (pid, command, container id); do device nodes exist;
         the host's NICs and their addresses; what the host's name resolves to (what Gloo binds)
  gpus   (--gpus all): the GPUs the NVIDIA runtime hands a container, from nvidia-smi or /proc
  path   (the host path bind-mounted at /pdcompose-probe): is it a directory, is the model cached
"""

import errno
import fcntl
import glob
import json
import os
import re
import socket
import stat
import struct
import subprocess
import sys

LISTEN = "0A"
CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
RTM_GETADDR, NLM_F_REQUEST, NLM_F_DUMP, NLMSG_DONE, NLMSG_ERROR = 22, 1, 0x300, 3, 2
IFA_LOCAL, IFA_ADDRESS = 2, 1
SIOCGIFADDR = 0x8915


def bind_error(address, port):
    """None when (address, port) can be bound now, else the errno name (EADDRINUSE, EADDRNOTAVAIL...)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR: a port left in TIME_WAIT by a stopped container is free; a listener still conflicts.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        return None
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    finally:
        sock.close()


def resolve(address):
    try:
        infos = socket.getaddrinfo(address, None, 0, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return [], str(exc)
    return sorted({info[4][0] for info in infos}), None


def read_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace").splitlines()
    except OSError:
        return []


def local_addresses():
    """The host's IPv4 addresses (/proc/net/fib_trie LOCAL entries) and global IPv6 ones."""
    found, last = set(), None
    for line in read_lines("/proc/net/fib_trie"):
        text = line.strip()
        if text.startswith("|--"):
            last = text.split()[-1]
        elif text.startswith("/32 host LOCAL") and last:
            found.add(last)
    for line in read_lines("/proc/net/if_inet6"):
        fields = line.split()
        if len(fields) > 3 and fields[3] == "00":
            found.add(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(fields[0])))
    return sorted(found)


def _netlink_addresses():
    """[(interface index, address)] of every address the kernel has (`ip addr`): RTM_GETADDR over netlink,
    which, unlike SIOCGIFADDR, also sees a NIC's secondary addresses and its IPv6 ones."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    try:
        sock.settimeout(5)
        sock.sendto(struct.pack("=IHHII", 17, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + b"\0", (0, 0))
        found = []
        while True:
            data, offset = sock.recv(65536), 0
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if kind == NLMSG_DONE:
                    return found
                if kind == NLMSG_ERROR or length < 16:
                    raise OSError("netlink refused RTM_GETADDR")
                found.extend(_ifaddr(data[offset + 16:offset + length]))
                offset += (length + 3) & ~3
    finally:
        sock.close()


def _ifaddr(body):
    """One RTM_NEWADDR message -> [(index, address)]: IFA_LOCAL for IPv4 (IFA_ADDRESS is a peer's on a
    point-to-point link), IFA_ADDRESS for IPv6."""
    family, _, _, _, index = struct.unpack_from("=BBBBI", body)
    attrs, offset = {}, 8
    while offset + 4 <= len(body):
        length, kind = struct.unpack_from("=HH", body, offset)
        if length < 4:
            break
        attrs[kind] = body[offset + 4:offset + length]
        offset += (length + 3) & ~3
    raw = attrs.get(IFA_LOCAL if family == socket.AF_INET else IFA_ADDRESS)
    return [(index, socket.inet_ntop(family, raw))] if raw and family in (socket.AF_INET, socket.AF_INET6) else []


def _ioctl_address(name):
    """The primary IPv4 address of one NIC (SIOCGIFADDR), or None: the fallback where netlink is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        answer = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        return socket.inet_ntoa(answer[20:24])
    except OSError:
        return None
    finally:
        sock.close()


def interfaces(wanted=()):
    """NIC name -> its IPv4 and global IPv6 addresses, for every NIC that has one and every NIC in
    `wanted` that exists (a host's many container veths have none: left out, to keep the answer small)."""
    names = dict(socket.if_nameindex())
    found = {name: [] for name in names.values()}
    try:
        for index, address in _netlink_addresses():
            if index in names and not address.lower().startswith("fe80:"):
                found[names[index]].append(address)
    except OSError:
        for name in found:
            address = _ioctl_address(name)
            found[name] = [address] if address else []
    return {name: sorted(ips, key=lambda ip: (":" in ip, ip)) for name, ips in sorted(found.items())
            if ips or name in wanted}


def own_name():
    """The host's name as a host-network container sees it, and what it resolves to, in getaddrinfo's order:
    Gloo binds the first of these that binds unless GLOO_SOCKET_IFNAME names a NIC."""
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return {"name": name, "ips": [], "error": str(exc)}
    return {"name": name, "ips": list(dict.fromkeys(info[4][0] for info in infos)), "error": None}


def _hex_address(text):
    raw = bytes.fromhex(text)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # /proc stores host-order words
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, words)


def listeners(port):
    """inode -> local address of every TCP socket listening on port (IPv4 and IPv6)."""
    out = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in read_lines(name)[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].rpartition(":")
            if fields[3] == LISTEN and int(hex_port, 16) == port:
                out[fields[9]] = _hex_address(address)
    return out


def socket_owners(inodes):
    """inode -> pids holding it, by reading every process's fd links (needs --pid host, SYS_PTRACE)."""
    owners, wanted = {}, {f"socket:[{inode}]": inode for inode in inodes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target in wanted:
                owners.setdefault(wanted[target], set()).add(int(pid))
    return owners


def describe_pid(pid):
    def read(name):
        return "\n".join(read_lines(f"/proc/{pid}/{name}"))
    # No command line: its arguments may carry tokens (--api-key ...), and this ends up on a screen.
    ids = CONTAINER_ID.findall(read("cgroup"))
    return {"pid": pid, "comm": read("comm").strip(), "container": ids[-1] if ids else None}


def holders(address, port):
    found = listeners(port)
    wild = ("0.0.0.0", "::")
    inodes = [i for i, a in found.items() if a == address or a in wild or address in wild]
    owners = socket_owners(inodes) if inodes else {}
    pids = sorted({pid for i in inodes for pid in owners.get(i, ())})
    return [describe_pid(pid) for pid in pids], len(inodes)


def check_port(address, port):
    error = bind_error(address, port)
    result = {"bind": address, "port": port, "error": error}
    if error == "EADDRINUSE":
        result["holders"], result["listeners"] = holders(address, port)
    return result


def device(path, root):
    full = root + path
    try:
        mode = os.stat(full).st_mode
    except OSError:
        return {"exists": False}
    entries = sorted(os.listdir(full)) if stat.S_ISDIR(mode) else []
    return {"exists": True, "char": stat.S_ISCHR(mode), "dir": stat.S_ISDIR(mode), "entries": entries[:32]}


def host_mode(args):
    addresses = {}
    for address in args.get("addresses", []):
        ips, error = resolve(address)
        addresses[address] = {"ips": ips, "error": error, "bind": {ip: bind_error(ip, 0) for ip in ips}}
    ports = [check_port(bind, port) for bind, port in args.get("ports", [])]
    root = args.get("dev_root", "")
    devices = {path: device(path, root) for path in args.get("devices", [])}
    out = {"addresses": addresses, "local_addresses": local_addresses(), "ports": ports, "devices": devices}
    if "interfaces" in args:        # asked for only: older callers get the answer they always got
        out["interfaces"] = interfaces(args["interfaces"])
    if args.get("hostname"):
        out["hostname"] = own_name()
    return out


def gpus_mode(args):
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,uuid,name", "--format=csv,noheader"],
                             capture_output=True, timeout=20)
        if out.returncode == 0:
            rows = [[p.strip() for p in line.split(",", 2)] for line in out.stdout.decode().splitlines() if line]
            return {"source": "nvidia-smi", "gpus": [{"index": r[0], "uuid": r[1], "name": r[2]} for r in rows]}
        smi_error = out.stderr.decode(errors="replace").strip()[-300:]
    except (OSError, subprocess.SubprocessError) as exc:
        smi_error = str(exc)
    gpus = []
    for info in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        fields = dict(line.split(":", 1) for line in read_lines(info) if ":" in line)
        gpus.append({"index": fields.get("Device Minor", "?").strip(), "uuid": fields.get("GPU UUID", "").strip(),
                     "name": fields.get("Model", "").strip()})
    return {"source": "/proc/driver/nvidia" if gpus else None, "gpus": gpus, "error": smi_error}


def path_mode(args):
    root = args["root"]
    result = {"dir": os.path.isdir(root), "entries": len(os.listdir(root)) if os.path.isdir(root) else 0,
              "writable": os.access(root, os.W_OK)}
    if args.get("model_dir"):
        result["model_cached"] = os.path.isdir(os.path.join(root, args["model_dir"]))
    return result


def main(argv):
    mode, args = argv[1], json.loads(argv[2]) if len(argv) > 2 else {}
    result = {"host": host_mode, "gpus": gpus_mode, "path": path_mode}[mode](args)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main(sys.argv)
