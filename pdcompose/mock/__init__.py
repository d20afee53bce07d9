"""A faithful mock of `vllm serve` for rehearsals and tests without GPUs.

Run as `python -m pdcompose.mock serve MODEL [vLLM flags]`; the mock image's `vllm` shim does exactly
that, so a rendered command line is the same for the mock and for real vLLM. The behaviour follows
`docs/upstream/vllm-router-protocol.md` (sections 2, 3, 5, 6, 7): `/health`, `/metrics` with one
`engine="i"` label per local DP engine, `/v1/models`, `/v1/completions` and `/v1/chat/completions`
in the prefill and decode roles, a NIXL side-channel listener per local DP engine, and DP group
formation across nodes (hybrid LB). Two extra endpoints exist for tests: `GET /mock/stats`
(+ `POST /mock/reset`) and `GET /mock/argv`.

Mock-only knobs come from the environment so that the vLLM argv stays that of a real deployment:

| variable | default | meaning |
|---|---|---|
| `PDCOMPOSE_MOCK_LOAD_DELAY` | `0` | seconds before `/health` turns 200 ("model loading") |
| `PDCOMPOSE_MOCK_PREFILL_MS_PER_1K` | `40` | simulated prefill cost per 1,000 prompt tokens (~25k tok/s) |
| `PDCOMPOSE_MOCK_DECODE_MS_PER_TOKEN` | `10` | simulated cost per generated token (100 tok/s per stream) |
| `PDCOMPOSE_MOCK_EXIT_CODE` | unset | fail start-up on purpose: `/health` stays 503, then the process ... |
| `PDCOMPOSE_MOCK_EXIT_AFTER` | `0` | ... prints vLLM's engine-core error on stderr and exits with that code |
| `PDCOMPOSE_MOCK_KV_TIMEOUT` | `1.0` | seconds allowed for one NIXL side-channel handshake |
| `PDCOMPOSE_MOCK_MAX_RECORDS` | `100000` | per-request records kept by `/mock/stats` (counters stay exact) |
| `PDCOMPOSE_MOCK_ACCESS_LOG` | `0` | `1` turns uvicorn's per-request access log on (off for speed) |
| `PDCOMPOSE_MOCK_DP_REJOIN` | `0` | `1`: a DP group heals around a restarted node (vLLM's does not) |
X
| `PDCOMPOSE_MOCK_VLLM_VERSION` | `0.13.0` | the vLLM release whose `vllm serve` parser judges the argv (its catalog) |

vLLM's own variables read: `VLLM_NIXL_SIDE_CHANNEL_HOST` (`localhost`), `VLLM_NIXL_SIDE_CHANNEL_PORT`
(`5600`), `VLLM_API_KEY` (like `--api-key`).

Only stdlib, pydantic, fastapi, uvicorn (uvloop/httptools when present) and packaging (for the
catalog) may be imported here: the image installs pdcompose with `--no-deps`. This `__init__` imports
nothing so that the pure parts (`pdcompose.mock.config`) stay cheap to import.
"""
