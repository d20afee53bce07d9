"""doctor's decisions, without Docker: what a host needs, and pass/fail from probe answers; the probe
script itself run in this process; the table, the JSON, the fast-check error, the progress lines."""

from __future__ import annotations

import io
import os
import socket

import pytest

from pdcompose import topology
from pdcompose.doctor import container, engine_checks, holders, hw_checks, network_checks, probe, runner
from pdcompose.doctor.model import CheckResult, ordered, summary
from pdcompose.doctor.needs import needs, port_list
from pdcompose.engine.cli import CliResult
from pdcompose.engine.reach import EngineInfo
from pdcompose.errors import PdcomposeError
from pdcompose.hardware import GDRDRV, IB_DEVICES, IMEX_DEVICES
from pdcompose.plan import build_plan
from pdcompose.plan.models import Plan
from tests.helpers import EXAMPLE, run_cli


@pytest.fixture(scope="module")
def guide() -> Plan:
    """The GB200 example as it would really deploy (never contacted: nothing here talks to a host)."""
    plan, _ = build_plan(topology.load(EXAMPLE), rehearsal=False)
    return plan


def test_needs_follow_the_containers(guide: Plan) -> None:
    n0 = needs(guide.host("gb200-n0"), guide.model)
    assert n0.devices == [IB_DEVICES, f"{IMEX_DEVICES}/channel0"] and n0.gpus == ["0", "1", "2", "3"]
    assert n0.paths == {"/mnt/hf-cache": "the HF cache"}
    assert n0.model_dir == "hub/models--nvidia--DeepSeek-R1-0528-FP4-v2"
    assert list(n0.addresses) == ["10.0.0.10"] and n0.remote_addresses == {}
    # ... and 18087: the group watchdog beside the node (API port + 10000) must find its port free too
    assert port_list([p.port for p in n0.ports]) == "5600-5603, 8087, 13345, 18087"
    assert {p.field for p in n0.ports} - {"the port"} == {"prefill.port", "prefill.nixl_port", "prefill.rpc_port"}
    n1 = needs(guide.host("gb200-n1"), guide.model)
    assert n1.remote_addresses == {"10.0.0.10": "--data-parallel-address of prefill-0-node-1 (its master)"}
    # the ports vLLM really binds there: VLLM_NIXL_SIDE_CHANNEL_PORT 5600 + global DP ranks 4-7
    assert port_list([p.port for p in n1.ports]) == "5604-5607, 8087, 18087"
    router = needs(guide.host("gb200-n6"), guide.model)
    # A router-only host runs no vLLM: its profile's GPU hardware is not required there (the planner).
    assert router.devices == [] and not router.uses_gpus and router.hardware == set()
    checks = {r.check: r for r in hw_checks.device_checks(guide.host("gb200-n6"), router, {})}
    assert checks["imex"].status == "skip" and checks["imex"].detail == "not used on this host"


def test_address_decisions(guide: Plan) -> None:
    host = guide.host("gb200-n0")
    n = needs(host, guide.model)
    fine = {"addresses": {"10.0.0.10": {"ips": ["10.0.0.10"], "error": None, "bind": {"10.0.0.10": None}}},
            "local_addresses": ["10.0.0.10", "127.0.0.1"]}
    assert network_checks.addresses(host, n, fine, rehearsal=False).status == "pass"
    other = {"addresses": {"10.0.0.10": {"ips": ["10.0.0.10"], "error": None, "bind": {"10.0.0.10": "EADDRNOTAVAIL"}}},
             "local_addresses": ["10.0.0.99", "127.0.0.1"]}
    result = network_checks.addresses(host, n, other, rehearsal=False)
    assert result.failed and "is not an address of this host (EADDRNOTAVAIL)" in result.detail
    assert "one of gb200-n0's addresses (10.0.0.99)" in result.fix
    loop = network_checks.addresses(host.model_copy(update={"address": "gb200-n0"}),
                                    needs(host.model_copy(update={"address": "gb200-n0"})),
                                    {"addresses": {"gb200-n0": {"ips": ["127.0.1.1"], "error": None,
                                                                "bind": {"127.0.1.1": None}}}}, rehearsal=False)
    assert loop.failed and "resolves to 127.0.1.1 on the host (see its /etc/hosts)" in loop.detail


def _taken(port: int, bind: str, pid: int, container_id: str | None) -> dict:
    return {"bind": bind, "port": port, "error": "EADDRINUSE",
            "holders": [{"pid": pid, "comm": "python3", "container": container_id}]}


def test_port_decisions(guide: Plan) -> None:
    host = guide.host("gb200-n6")
    n = needs(host, guide.model)                       # router 8123 on 0.0.0.0, metrics 29000 on its address
    own = holders.Running("a" * 64, "dsr1-router-1", host.project, "router", frozenset())
    other = holders.Running("b" * 64, "grafana", "monitoring", "grafana", frozenset({29000}))
    found = {"ports": [_taken(8123, "0.0.0.0", 10, "a" * 64), {"bind": "10.0.0.16", "port": 29000,
                                                                  "error": "EADDRINUSE", "holders": []}]}
    result = network_checks.ports(host, n, found, lambda: {own.id: own, other.id: other})
    assert result.failed and "29000 (router metrics of router, on 10.0.0.16) is taken by container 'grafana'" \
                             in result.detail and "8123" not in result.detail
    assert f"docker --context {host.context} stop grafana or move router.prometheus_port" in result.fix
    redeploy = {"ports": [_taken(8123, "0.0.0.0", 10, "a" * 64), {"bind": "10.0.0.16", "port": 29000, "error": None}]}
    result = network_checks.ports(host, n, redeploy, lambda: {own.id: own})
    assert result.status == "pass" and "1 held by this deployment's own containers (8123)" in result.detail
    process = {"ports": [_taken(8123, "0.0.0.0", 4242, None), {"bind": "10.0.0.16", "port": 29000, "error": None}]}
    result = network_checks.ports(host, n, process, dict)
    assert result.failed and "process python3 (pid 4242)" in result.detail
    blind = {"ports": [{"bind": "0.0.0.0", "port": 8123, "error": "EADDRINUSE", "holders": []},
                       {"bind": "10.0.0.16", "port": 29000, "error": None}]}
    assert network_checks.ports(host, n, blind, lambda: {own.id: own}).status == "pass"   # its own, probably


def test_docker_ps_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [f"{'c' * 64}\tweb\t\t\t0.0.0.0:8080->80/tcp, :::8080->80/tcp",
             f"{'d' * 64}\trange\tproj\tsvc\t127.0.0.1:5600-5603->5600-5603/tcp", f"{'e' * 64}\tquiet\t\t\t"]
    monkeypatch.setattr(holders.cli, "run", lambda *a, **k: CliResult(0, "\n".join(lines) + "\n", ""))
    found = holders.running("h", "ctx", 1)
    assert found["c" * 64].published == {8080} and found["d" * 64].published == {5600, 5601, 5602, 5603}
    assert found["d" * 64].project == "proj" and found["e" * 64].published == frozenset()


def test_gpu_runtime_and_device_decisions(guide: Plan) -> None:
    host = guide.host("gb200-n0")
    n = needs(host, guide.model)
    no_driver = hw_checks.gpu_checks(host, n, None, 'could not select device driver "" with capabilities: [[gpu]]')
    assert no_driver[0].failed and "nvidia-ctk runtime configure" in no_driver[0].fix
    assert no_driver[1].status == "skip"
    three = {"source": "nvidia-smi", "gpus": [{"index": str(i), "uuid": f"GPU-{i}", "name": "GB200"} for i in range(3)]}
    runtime, gpus = hw_checks.gpu_checks(host, n, three, None)
    assert runtime.status == "pass" and gpus.failed and "GPU 3 not on the host (it has 0, 1, 2)" in gpus.detail
    eight = {"source": "nvidia-smi", "gpus": [{"index": str(i), "uuid": f"GPU-{i}", "name": "H100"} for i in range(8)]}
    assert hw_checks.gpu_checks(host, n, eight, None)[1].status == "warn"
    devices = {IB_DEVICES: {"exists": True, "dir": True, "entries": ["rdma_cm", "uverbs0"]},
               f"{IMEX_DEVICES}/channel0": {"exists": False}}
    checks = {r.check: r for r in hw_checks.device_checks(host, n, {"devices": devices})}
    assert checks["infiniband"].status == "pass" and "uverbs0" in checks["infiniband"].detail
    assert checks["imex"].failed and "NVreg_CreateImexChannel0=1" in checks["imex"].fix


def test_gdrcopy_decisions(guide: Plan) -> None:
    host = guide.host("gb200-n0")                        # the guide passes no /dev/gdrdrv (gdrcopy: false)
    n = needs(host, guide.model)
    assert GDRDRV in hw_checks.probed_devices(host, n) and GDRDRV not in n.devices

    def gdrcopy(h, present: bool):
        found = {"devices": {GDRDRV: {"exists": present, "char": present}}}
        return {r.check: r for r in hw_checks.device_checks(h, needs(h, guide.model), found)}["gdrcopy"]

    unused = gdrcopy(host, True)                         # the host has it, the containers do not get it
    assert unused.status == "warn" and "the host has /dev/gdrdrv" in unused.detail
    assert "set gdrcopy: true on hosts.gb200-n0 (or in defaults)" in unused.fix
    assert gdrcopy(host, False).status == "skip"
    mapped = [c.model_copy(update={"devices": [*c.devices, f"{GDRDRV}:{GDRDRV}"]}) for c in host.containers]
    passing = host.model_copy(update={"containers": mapped})
    assert gdrcopy(passing, True).status == "pass"
    lacking = gdrcopy(passing, False)                    # passed, but the host has no driver: compose up fails
    assert lacking.failed and "/dev/gdrdrv is missing" in lacking.detail and "modprobe gdrdrv" in lacking.fix
    router = guide.host("gb200-n6")
    assert hw_checks.probed_devices(router, needs(router)) == []
    assert gdrcopy(router, True).status == "skip"


def test_path_and_engine_decisions(guide: Plan) -> None:
    host = guide.host("gb200-n0")
    n = needs(host, guide.model)
    missing = hw_checks.path_checks(host, n, {"/mnt/hf-cache": {"exists": False}}, guide.model)
    assert missing.failed and "/mnt/hf-cache (the HF cache) does not exist on the host" in missing.detail
    empty = hw_checks.path_checks(host, n, {"/mnt/hf-cache": {"exists": True, "dir": True, "model_cached": False}},
                                  guide.model)
    assert empty.status == "warn" and "has no nvidia/DeepSeek-R1-0528-FP4-v2" in empty.detail
    old = engine_checks.engine(host, EngineInfo("c", "20.10.24", "1.41", "linux", "arm64"), n)
    assert old.status == "pass" and "before 25: no healthcheck start_interval, no CDI devices" in old.detail
    new = engine_checks.engine(host, EngineInfo("c", "27.3.1", "1.47", "linux", "arm64"), n)
    assert "has healthcheck start_interval, CDI devices (pdcompose emits neither)" in new.detail
    ancient = engine_checks.engine(host, EngineInfo("c", "18.09.7", "1.39", "linux", "arm64"), n)
    assert ancient.failed and "cannot reserve GPUs" in ancient.detail


def test_probe_finds_this_process_holding_a_port(tmp_path) -> None:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    port = held.getsockname()[1]
    try:
        answer = probe.check_port("127.0.0.1", port)
        assert answer["error"] == "EADDRINUSE"
        assert os.getpid() in [h["pid"] for h in answer["holders"]]
    finally:
        held.close()
    assert probe.check_port("127.0.0.1", port)["error"] is None
    assert probe.bind_error("203.0.113.7", 0) == "EADDRNOTAVAIL"       # TEST-NET-3: not this machine's
    assert probe._hex_address("0100007F") == "127.0.0.1"
    (tmp_path / "hub" / "models--org--m").mkdir(parents=True)
    assert probe.path_mode({"root": str(tmp_path), "model_dir": "hub/models--org--m"})["model_cached"] is True


def test_mount_flag_quotes_commas() -> None:
    assert container.mount_flag("/data/a,b", "/x") == ["--mount", 'type=bind,"source=/data/a,b",target=/x,readonly']


def test_cli_error_line_skips_the_help_hint() -> None:
    stderr = "docker: Error response from daemon: No such image: x:1\n\nRun 'docker run --help' for more information\n"
    assert CliResult(125, "", stderr).last_error() == "Error response from daemon: No such image: x:1"


def test_fast_check_failures_become_one_error(guide: Plan, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = [CheckResult("gb200-n0", "ports", "fail", "8087 is taken by container 'x'", "docker stop x"),
           CheckResult("gb200-n0", "engine", "pass", "fine")]
    monkeypatch.setattr(runner, "fast_checks", lambda *a, **k: bad)
    with pytest.raises(PdcomposeError, match=r"nothing was started .*\n  gb200-n0: ports: 8087 is taken by "
                                             r"container 'x' \(fix: docker stop x\)"):
        runner.require_fast_checks(guide, guide.hosts)


def test_table_merges_skips_and_json_counts(guide: Plan) -> None:
    from rich.console import Console

    from pdcompose.cli.doctor_views import doctor_json, doctor_table

    results = ordered([CheckResult("gb200-n0", c, "skip", "rehearsal: no devices are mapped")
                       for c in ("imex", "infiniband")] +
                      [CheckResult("gb200-n0", "ports", "fail", "8087 taken", "stop it"),
                       CheckResult("gb200-n0", "engine", "pass", "Engine 20.10")], ["gb200-n0"])
    assert [r.check for r in results] == ["engine", "ports", "infiniband", "imex"]
    console = Console(file=io.StringIO(), width=200)
    console.print(doctor_table(guide, guide.hosts, results))
    text = console.file.getvalue()
    assert "infiniband, imex" in text and "fix: stop it" in text and "FAIL" in text
    assert doctor_json(guide, results, summary(results))["status"] == "failed"


def test_line_progress_reports_quarters(capsys: pytest.CaptureFixture[str]) -> None:
    from pdcompose.cli.progress import LineReporter

    with LineReporter() as progress:
        progress.start("h img", "h: img", 400)
        for _ in range(4):
            progress.advance("h img", 100)
        progress.finish("h img", "loaded in 1.0 s, ID verified")
    err = capsys.readouterr().err
    assert "h: img: loading 0 MB" in err and "h img: 75% sent" in err and "ID verified" in err


def test_cli_surface() -> None:
    assert "--skip-doctor" in run_cli("deploy", "--help").stdout
    doctor = run_cli("doctor", "--help").stdout
    assert all(flag in doctor for flag in ("--context", "--rehearsal", "--json", "--timeout"))
    push = run_cli("images", "push", "--help").stdout
    assert all(flag in push for flag in ("--context", "--rehearsal", "--gzip"))
    assert "--json" in run_cli("images", "status", "--help").stdout


def test_a_probe_that_hangs_is_removed_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from pdcompose.engine.cli import DockerTimeout

    calls: list[list[str]] = []

    def fake(host: str, context: str, args: list[str], timeout: float) -> CliResult:
        calls.append(args)
        if args[0] == "run":
            raise DockerTimeout(host, "did not answer within 1 s")
        return CliResult(0, "", "")

    monkeypatch.setattr(container.cli, "run", fake)
    with pytest.raises(DockerTimeout):
        container.host_probe("h", "ctx", "img", {}, 1)
    name = calls[0][calls[0].index("--name") + 1]
    assert calls[1] == ["rm", "--force", name] and "--pull" in calls[0] and "never" in calls[0]


def test_every_hardware_a_profile_may_require_is_a_doctor_check_of_that_name():
    from pdcompose.doctor.model import CHECKS
    from pdcompose.hardware import DEVICE_PATHS, REQUIREMENTS
    from pdcompose.topology.presets import PRESETS, builtin, load_profile

    assert set(REQUIREMENTS) <= set(CHECKS) and set(DEVICE_PATHS) <= set(CHECKS)
    listed = {r for name in builtin("profiles") for r in load_profile(name, PRESETS).requires}
    assert listed and listed <= set(REQUIREMENTS)
