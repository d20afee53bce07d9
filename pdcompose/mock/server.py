"""The mock process: argv -> listeners -> HTTP, with vLLM's exit behaviour.

Start-up order follows vLLM: the NIXL side channels and the DP coordinator are opened before the API
server, and a port that cannot be bound ends the process with a non-zero status and one clear line.
The HTTP port opens at once; /health stays 503 until the simulated load delay has passed and the DP
group is complete.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from typing import Any

import uvicorn

from pdcompose.mock.app import VERSION, create_app
from pdcompose.mock.config import USAGE, ArgvError, ConfigError, MockConfig, MockKnobs, parse_argv
from pdcompose.mock.runtime import Runtime
from pdcompose.mock.sidechannel import StartupError, start_listeners

log = logging.getLogger("pdcompose.mock")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help"} & set(args[:2]):
        print(USAGE)
        return 0
    _setup_logging()
    try:
        config = parse_argv(args, os.environ)
    except ArgvError as exc:            # vLLM's parser: usage, one error line, exit 2
        print(exc.usage + exc.line, file=sys.stderr, end="\n", flush=True)
        return 2
    except ConfigError as exc:
        print(f"vllm serve: error: {exc}", file=sys.stderr)
        return 2
    return _run(serve(config))


def _run(main_coroutine: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main_coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main_coroutine)


async def serve(config: MockConfig) -> int:
    rt = Runtime(config)
    if config.knobs.exit_code is not None:
        asyncio.get_running_loop().call_later(config.knobs.exit_after, _crash, config.knobs)
    log.info("vLLM API server version %s (pdcompose mock) serving %s", VERSION, config.model)
    listeners: list[asyncio.Server] = []
    try:
        if config.kv_connector:
            listeners = await start_listeners(config, rt.pool.engines, str(rt.catalog.version))
        await rt.group.start()
    except StartupError as exc:
        _error_line("nixl_connector.py" if "NIXL" in str(exc) else "core.py", str(exc))
        return 1
    try:
        if config.headless:
            log.info("headless: DP ranks %s serve no API", list(config.local_ranks))
            await _until_signalled()
        else:
            await _serve_http(config, rt)
    finally:
        for listener in listeners:
            listener.close()
        rt.group.close()
    return 0


async def _serve_http(config: MockConfig, rt: Runtime) -> None:
    try:
        import httptools  # noqa: F401
        http = "httptools"
    except ImportError:
        http = "h11"
    server = uvicorn.Server(uvicorn.Config(
        create_app(config, rt), host=config.host, port=config.port, http=http, ws="none", lifespan="off",
        log_config=None, log_level="info", timeout_graceful_shutdown=5,
        access_log=config.knobs.access_log and not config.disable_access_log,
    ))
    await server.serve()


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _crash(knobs: MockKnobs) -> None:
    """PDCOMPOSE_MOCK_EXIT_CODE: die like an engine core that failed to start."""
    _error_line("core.py", "EngineCore failed to start.")
    print("RuntimeError: Engine core initialization failed. See root cause above. "
          "Failed core proc(s): {'EngineCore_DP0': 1}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(knobs.exit_code or 0)     # now, from inside the loop: no graceful shutdown to mask the code


def _error_line(where: str, message: str) -> None:
    print(f"ERROR {time.strftime('%m-%d %H:%M:%S')} [{where}] {message}", file=sys.stderr, flush=True)


def _setup_logging() -> None:
    # vLLM's format, so log scrapers written against vLLM read the mock too
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(levelname)s %(asctime)s [%(module)s.py:%(lineno)d] %(message)s",
                        datefmt="%m-%d %H:%M:%S")
