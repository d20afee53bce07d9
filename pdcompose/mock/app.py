"""The mock's FastAPI application: vLLM's routes plus /mock/* for tests.

Handlers take the raw `Request` and return pre-serialised bytes: no per-request pydantic validation
and no middleware, because six of these share two cores under hundreds of concurrent streams.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse

from pdcompose.mock.body import ApiError
from pdcompose.mock.config import MockConfig
from pdcompose.mock.envinfo import argv_report
from pdcompose.mock.generate import UNAUTHORIZED, error_response, generate
from pdcompose.mock.metrics import render_metrics
from pdcompose.mock.responses import dumps
from pdcompose.mock.runtime import Runtime

VERSION = "0.0.0+pdcompose.mock"


def create_app(config: MockConfig, runtime: Runtime | None = None) -> FastAPI:
    """The ASGI app; `runtime` is passed by the server so its listeners and routes share state."""
    rt = runtime or Runtime(config)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = rt

    def json_response(body: object, status: int = 200) -> Response:
        return Response(dumps(body), status, media_type="application/json")

    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=200 if rt.ready else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return PlainTextResponse(render_metrics(rt), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/version")
    async def version() -> Response:
        return json_response({"version": VERSION})

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        if not rt.authorized(request.headers.get("authorization")):
            return Response(UNAUTHORIZED, 401, media_type="application/json")
        if not rt.ready:
            return error_response(ApiError(503, "The model is still loading.", "ServiceUnavailableError"))
        return json_response(_model_list(config))

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await generate(rt, request, "completion")

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        return await generate(rt, request, "chat")

    @app.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def other_v1(request: Request, rest: str) -> Response:
        # vLLM's middleware answers 401 before routing: an unknown /v1 path without the key is 401, not 404
        if not rt.authorized(request.headers.get("authorization")):
            return Response(UNAUTHORIZED, 401, media_type="application/json")
        return json_response({"detail": "Not Found"}, 404)

    @app.get("/mock/stats")
    async def mock_stats(records: bool = True) -> Response:
        snapshot = rt.stats.snapshot(ready=rt.ready, engine_ids=rt.engine_ids, with_records=records)
        return json_response(snapshot)

    @app.post("/mock/reset")
    async def mock_reset() -> Response:
        rt.stats.reset()
        return json_response({"ok": True})

    @app.get("/mock/argv")
    async def mock_argv() -> Response:
        return json_response(argv_report(config.argv, config.environ))

    return app


def _model_list(config: MockConfig) -> dict:
    created = int(time.time())
    permission = {"id": "modelperm-pdcompose-mock", "object": "model_permission", "created": created,
                  "allow_create_engine": False, "allow_sampling": True, "allow_logprobs": True,
                  "allow_search_indices": False, "allow_view": True, "allow_fine_tuning": False,
                  "organization": "*", "group": None, "is_blocking": False}
    cards = [{"id": name, "object": "model", "created": created, "owned_by": "vllm", "root": config.model,
              "parent": None, "max_model_len": config.max_model_len, "permission": [permission]}
             for name in config.served_model_names]
    return {"object": "list", "data": cards}
