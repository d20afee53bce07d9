"""Console output: results on stdout, diagnostics on stderr, secrets redacted from both.

Every stream pdcompose prints to is wrapped in a redactor that replaces the current values of the
environment variables holding secrets (HF_TOKEN and every `from_env` a topology names), so a token can
never leak through a message, a table or a relayed container log line.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any

SECRET_ENV_DEFAULT = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "OPENAI_API_KEY", "VLLM_API_KEY")
_secret_names: set[str] = set(SECRET_ENV_DEFAULT)


def register_secret_env(*names: str) -> None:
    _secret_names.update(names)


def redact(text: str) -> str:
    for name in _secret_names:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, f"<${name}>")
    return text


class RedactingStream:
    def __init__(self, stream: IO[str]):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(redact(text))

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")


_consoles: dict[int, Any] = {}


def console(stderr: bool = False) -> Any:
    """A rich Console on the current stdout or stderr (created on first use, so `--help` never imports
    rich's console; keyed by stream because test runners swap sys.stdout)."""
    stream = sys.stderr if stderr else sys.stdout
    if id(stream) not in _consoles:
        from rich.console import Console

        _consoles[id(stream)] = Console(
            file=RedactingStream(stream),  # type: ignore[arg-type]  # rich only writes, flushes, asks isatty
            stderr=stderr, highlight=False, soft_wrap=True)
    return _consoles[id(stream)]


def print_table(table: Any) -> None:
    """A table on stdout: fitted to a terminal; piped (a file, grep, a CI log), never cut: as wide as its
    widest row, since a reader there cannot widen the window to see the "..." part."""
    con = console()
    if con.is_terminal:
        con.print(table)
        return
    from rich.console import Console
    from rich.measure import Measurement

    needed = Measurement.get(con, con.options.update_width(100_000), table).maximum
    # print(width=) is capped at the console's width: a console of the table's own width writes it
    Console(file=con.file, width=max(needed, con.width), highlight=False, soft_wrap=True).print(table)


def print_json(data: Any) -> None:
    sys.stdout.write(redact(json.dumps(data, indent=2, sort_keys=False, default=str)) + "\n")


def say(message: str) -> None:
    console().print(message)


def note(message: str) -> None:
    console(stderr=True).print(message)


def warn(message: str) -> None:
    console(stderr=True).print(f"[yellow]warning:[/] {_escape(message)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def error_line(message: str) -> None:
    console(stderr=True).print(f"[bold red]error:[/] {_escape(message)}")
