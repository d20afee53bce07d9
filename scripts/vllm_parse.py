"""Parse `vllm serve` command lines with vLLM's own parser: run by the Python of a vLLM venv.

    echo '[{"id": "n0", "argv": ["MODEL", "--port", "8087", ...]}]' | <venv>/bin/python scripts/vllm_parse.py

For each argv: whether vLLM's parser (the one `vllm serve` builds, with its dotted-key merging and its
underscore spelling rules) accepts it, which option tokens it matched only as abbreviations, the
data-parallel settings it parsed, and every key of the JSON config flags read back from the parsed
config objects (a key the parser dropped comes back as missing). Imports nothing from pdcompose.
"""

from __future__ import annotations

import contextlib
import enum
import io
import json
import os
import sys
from typing import Any

os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")

DP_FIELDS = ("tensor_parallel_size", "data_parallel_size", "data_parallel_size_local", "data_parallel_start_rank",
             "data_parallel_address", "data_parallel_rpc_port", "data_parallel_hybrid_lb", "port", "host",
             "model_tag", "served_model_name")
CONFIG_FLAGS = {"--compilation-config": "compilation_config", "--kv-transfer-config": "kv_transfer_config"}
MISSING = "<missing>"


def build():
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    root = FlexibleArgumentParser(prog="vllm")
    serve = ServeSubcommand().subparser_init(root.add_subparsers(dest="subparser"))
    return root, serve


def project(obj: Any, wanted: Any) -> Any:
    """The parsed object's values at the keys of `wanted` (the JSON the argv passed)."""
    if isinstance(wanted, dict):
        out = {}
        for key, sub in wanted.items():
            value = obj.get(key, MISSING) if isinstance(obj, dict) else getattr(obj, key, MISSING)
            out[key] = MISSING if value is MISSING else project(value, sub)
        return out
    if isinstance(obj, enum.Enum):
        return obj.name
    if isinstance(obj, list | tuple):
        return [project(v, None) for v in obj]
    return obj


def parse_one(root, serve, argv: list[str]) -> dict[str, Any]:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            ns = root.parse_args(["serve", *argv])
    except SystemExit as exc:
        return {"ok": False, "exit": exc.code, "error": err.getvalue().strip().splitlines()[-1:],
                "stderr": err.getvalue()}
    exact = set(serve._option_string_actions)
    tokens = [t.split("=", 1)[0] for t in argv if t.startswith("--")]
    # vLLM's parser rewrites underscores in the first segment; dotted keys are merged, never abbreviated
    abbreviated = [t for t in tokens if "." not in t and t.replace("_", "-") not in exact]
    configs = {}
    for flag, dest in CONFIG_FLAGS.items():
        if flag in argv:
            configs[dest] = project(getattr(ns, dest), json.loads(argv[argv.index(flag) + 1]))
    return {"ok": True, "abbreviated": abbreviated, "configs": configs,
            "settings": {f: getattr(ns, f, MISSING) for f in DP_FIELDS}}


def main() -> None:
    jobs = json.load(sys.stdin)
    root, serve = build()
    results = [{"id": job["id"], **parse_one(root, serve, job["argv"])} for job in jobs]
    json.dump(results, sys.stdout, default=str)


if __name__ == "__main__":
    main()
