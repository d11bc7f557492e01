"""The codec server: Temporal's remote codec protocol over HTTP, for the Web UI and the CLI.

`POST .../encode` and `POST .../decode` take and return `{"payloads": [...]}` (Payloads in
protobuf JSON). Both hand out or take plaintext, so each request needs
`Authorization: Bearer <CODEC_SERVER_TOKEN>`, or the token as the path prefix `/t/<token>/`: the
Temporal Web UI of a dev server has no login and so cannot send a bearer token, but it can be given
`http://host:port/t/<token>` as its codec endpoint (only browsers that can open that UI learn it).
Browsers may call it from the one configured origin (the Temporal Web UI) only; every other origin
gets no CORS headers and so cannot read answers.

`GET /healthz` (also `GET /health`) needs no token, for an orchestrator's probes: 200 with
`{"status": "ok"}` while the server runs, and nothing about the keys.
"""

import asyncio
import secrets
import signal
from collections.abc import Awaitable, Callable, Sequence

import structlog
from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from workers.codec import EncryptionCodec
from workers.errors import StartupError
from workers.keyring import KeyRing, KeyRingError

log = structlog.get_logger(__name__)

# The UI decodes one event's payloads at a time; Temporal caps a payload at 2 MB by default.
MAX_REQUEST_BYTES = 16 * 1024 * 1024
ALLOWED_HEADERS = "Content-Type, Authorization, X-Namespace"

Convert = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def build_app(ring: KeyRing, token: str, cors_origin: str) -> web.Application:
    codec = EncryptionCodec(ring)
    expected = f"Bearer {token}".encode()

    def cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        response.headers["Vary"] = "Origin"
        if request.headers.get("Origin") == cors_origin:
            response.headers["Access-Control-Allow-Origin"] = cors_origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
        return response

    def authorized(request: web.Request) -> bool:
        given = request.headers.get("Authorization", "").encode()
        parts = request.path.split("/")
        in_path = (
            len(parts) > 3
            and parts[1] == "t"
            and secrets.compare_digest(parts[2].encode(), token.encode())
        )
        return in_path or secrets.compare_digest(given, expected)

    async def convert(request: web.Request, operation: Convert) -> web.StreamResponse:
        if not authorized(request):
            return cors(request, web.Response(status=401, text="missing or wrong bearer token"))
        try:
            payloads = json_format.Parse(await request.text(), Payloads())
            converted = await operation(payloads.payloads)
        except json_format.ParseError as error:
            return cors(request, web.Response(status=400, text=f"not a Payloads body: {error}"))
        except KeyRingError as error:
            return cors(request, web.Response(status=400, text=str(error)))
        body = json_format.MessageToJson(Payloads(payloads=converted))
        return cors(request, web.Response(text=body, content_type="application/json"))

    async def preflight(request: web.Request) -> web.StreamResponse:
        response = web.Response(status=204)
        if request.headers.get("Origin") == cors_origin:
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        return cors(request, response)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        # The protocol looks at the last path segment only, so the server can be mounted under
        # any prefix (e.g. /codec/decode behind a proxy).
        name = request.path.rstrip("/").rsplit("/", 1)[-1]
        if request.method == "OPTIONS" and name in ("encode", "decode"):
            return await preflight(request)
        if request.method == "POST" and name == "encode":
            return await convert(request, codec.encode)
        if request.method == "POST" and name == "decode":
            return await convert(request, codec.decode)
        if request.method == "GET" and name in ("healthz", "health"):
            # Unauthenticated on purpose: probes carry no token, and the answer reveals nothing.
            return web.json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})
        return web.Response(status=404, text="not found")

    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app.router.add_route("*", "/{path:.*}", dispatch)
    return app


async def start_codec_server(
    ring: KeyRing, token: str, cors_origin: str, host: str, port: int
) -> web.AppRunner:
    """Serve in the running event loop; the caller calls `cleanup()` on the returned runner."""
    runner = web.AppRunner(build_app(ring, token, cors_origin), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        await runner.cleanup()
        raise StartupError(
            f"the codec server cannot listen on {host}:{port} ({error.strerror or error}); "
            "choose another port with CODEC_SERVER_PORT or --port"
        ) from None
    return runner


async def serve_codec_until_signalled(
    ring: KeyRing, token: str, cors_origin: str, host: str, port: int
) -> None:
    """`remediation codec-server`: serve until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = await start_codec_server(ring, token, cors_origin, host, port)
    log.info(
        "codec server listening",
        url=f"http://{host}:{port}",
        cors_origin=cors_origin,
        current_key_id=ring.current_key_id,
    )
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        log.info("codec server stopped")
