"""`remediation codec-server` and `remediation keys`: payload encryption from the command line.

Registered on the `remediation` app by workers/cli/main.py.
"""

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from workers.cli import support
from workers.errors import StartupError

keys_app = typer.Typer(
    help="The encryption key ring: generate one, rotate to a new current key.",
    no_args_is_help=True,
)


def codec_server(
    port: Annotated[
        int | None, typer.Option(help="Port to listen on.", show_default="CODEC_SERVER_PORT")
    ] = None,
    bind: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    cors_origin: Annotated[
        str | None,
        typer.Option(
            help="The browser origin allowed to call it (the Temporal Web UI).",
            show_default="CODEC_CORS_ORIGIN",
        ),
    ] = None,
) -> None:
    """Serve Temporal's codec protocol (POST /encode, POST /decode, GET /healthz) with the key ring.

    Point the Web UI (`--ui-codec-endpoint`, or the UI's codec settings) or the Temporal CLI
    (`--codec-endpoint URL --codec-auth "Bearer $CODEC_SERVER_TOKEN"`) at it. Every request
    needs `Authorization: Bearer <CODEC_SERVER_TOKEN>`. SIGTERM or SIGINT stops it.
    """
    from workers.codec_server import serve_codec_until_signalled
    from workers.encryption import require_key_ring

    overrides = {"codec_cors_origin": cors_origin} if cors_origin else {}
    settings = support._settings(**overrides)
    if settings.codec_server_token is None:
        support._fail("CODEC_SERVER_TOKEN is not set: the codec server needs a token to check")
    try:
        ring = require_key_ring(settings)
    except StartupError as error:
        support._fail(str(error))
    support._run(
        serve_codec_until_signalled(
            ring,
            settings.codec_server_token.get_secret_value(),
            settings.codec_cors_origin,
            bind,
            port or settings.codec_server_port,
        )
    )


@keys_app.command("generate")
def keys_generate(
    key_id: Annotated[
        str | None, typer.Option(help="Id of the key (default: k-<date>-<random>).")
    ] = None,
) -> None:
    """Print a new key ring of one fresh key, as JSON (for REMEDIATION_KEYS or a key file)."""
    from workers.keyring import KeyRing, KeyRingError

    try:
        typer.echo(KeyRing.single(key_id).to_json(), nl=False)
    except KeyRingError as error:
        support._fail(str(error))


@keys_app.command("rotate")
def keys_rotate(
    file: Annotated[Path, typer.Option("--file", metavar="FILE", help="The key ring file.")],
    key_id: Annotated[
        str | None, typer.Option(help="Id of the new key (default: k-<date>-<random>).")
    ] = None,
) -> None:
    """Add a fresh key to the key ring FILE and make it current; old keys stay to decrypt what
    they encrypted. Prints the new key id. Restart the workers and clients to use it."""
    from workers.keyring import KeyRing, KeyRingError

    try:
        ring = KeyRing.parse(file.read_text(encoding="utf-8")).with_new_current_key(key_id)
        _replace_private(file, ring.to_json())
    except OSError as error:
        support._fail(f"cannot rotate {file}: {error.strerror or error}")
    except (UnicodeDecodeError, KeyRingError) as error:
        support._fail(f"{file}: {error}")
    typer.echo(ring.current_key_id)


def _replace_private(path: Path, text: str) -> None:
    """Write beside the file, owner-only, then rename: a crash never leaves half a key ring."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
