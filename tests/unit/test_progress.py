"""The one progress reporter (cli/progress.py): what deploy, push and bench show, on a terminal and in a log."""

from __future__ import annotations

import io
import re

from rich.console import Console

from pdcompose.bench.client import Progress
from pdcompose.cli.progress import LineReporter, LiveReporter, reporter
from pdcompose.deploy.health import Probe


def drive(progress: LineReporter) -> None:
    """A deploy's step and targets, a push's transfer and a bench's requests, through one reporter."""
    progress.step("starting vLLM nodes on 2 host(s)")
    progress.target(("p", "prefill-0-node-0"), Probe(False, "/health: refused"))
    progress.target(("p", "prefill-0-node-0"), Probe(True, "model listed"))
    progress.start("d img", "d: pdcompose/mock-vllm", 400)
    for _ in range(4):
        progress.advance("d img", 100)
    progress.finish("d img", "loaded, ID verified")
    progress.requests(Progress(10, 1, 10, 160))


def test_in_a_log_every_change_is_one_timestamped_line_and_a_bench_is_silent() -> None:
    log = io.StringIO()
    with reporter("c=4", Console(file=log, force_terminal=False, width=200)) as progress:
        assert not isinstance(progress, LiveReporter)
        drive(progress)
    lines = log.getvalue().splitlines()
    assert [line.split("s ", 1)[1].strip() for line in lines] == [
        "starting vLLM nodes on 2 host(s)", "p/prefill-0-node-0: waiting /health: refused",
        "p/prefill-0-node-0: ready model listed", "d: pdcompose/mock-vllm: loading 0 MB", "d img: 25% sent",
        "d img: 50% sent", "d img: 75% sent", "d img: loaded, ID verified"]


def test_on_a_terminal_one_live_area_holds_containers_transfers_and_requests() -> None:
    tty = io.StringIO()
    with reporter("c=4", Console(file=tty, force_terminal=True, width=160)) as progress:
        assert isinstance(progress, LiveReporter)
        drive(progress)
    shown = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", tty.getvalue())     # rich's colours and cursor moves
    assert "starting vLLM nodes on 2 host(s)" in shown
    assert "prefill-0-node-0" in shown and "model listed" in shown             # the container's row, last state
    assert "pdcompose/mock-vllm" in shown and "loaded, ID verified" in shown   # the transfer's bar
    assert "c=4" in shown and "10/10" in shown and "1 failed" in shown         # the bench's counter


def test_every_reporter_is_the_one_progress_interface() -> None:
    from pdcompose.progress import Reporter, Silent
    from tests.helpers import Steps
    from tests.images.test_push import Recorder

    for made in (LineReporter(), LiveReporter(), Silent(), Steps(), Recorder()):
        assert isinstance(made, Reporter), type(made).__name__

    class StepsOnly:
        def step(self, text: str) -> None: ...

    assert not isinstance(StepsOnly(), Reporter)      # half a reporter is none: push would call start()
