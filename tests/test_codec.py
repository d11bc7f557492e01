"""Payload encryption: the key ring, the codec, the settings, the codec server, and what Temporal
actually stores (nothing of a victim's data in the clear)."""

import asyncio
import base64
import json
import os
import re
import signal
import stat
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from schemas.decisions import DecisionKind
from schemas.intake import Intake
from schemas.vocabulary import Step
from tests import http_api as api
from tests.conftest import PROJECT_ROOT, TEST_DATA_CONVERTER, TEST_KEY_RING, Engine, free_port
from tests.test_incident_lifecycle import decide, open_incident, status, to_response
from tests.waiting import eventually
from workers import incident_client as incidents
from workers.cli import app
from workers.codec import EncryptionCodec
from workers.codec_server import start_codec_server
from workers.devstack import examples
from workers.encryption import encrypted_data_converter, key_ring_from
from workers.errors import StartupError
from workers.keyring import KeyRing, KeyRingError, generate_key, open_sealed, seal
from workers.running_stack import STACK_FILE, RunningStack
from workers.settings import load_settings

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"name": "Amani"}')


def _key(payload: Payload) -> str:
    return payload.metadata["encryption-key-id"].decode()


# --- the key ring --------------------------------------------------------------------------------


def test_seal_opens_with_the_same_key_and_aad_only() -> None:
    key = generate_key()
    blob = seal(key, b"secret", b"row-1")
    assert len(key) == 32 and b"secret" not in blob
    assert open_sealed(key, blob, b"row-1") == b"secret"
    assert seal(key, b"secret") != seal(key, b"secret")  # a fresh nonce each time
    with pytest.raises(KeyRingError, match="altered or sealed with another key"):
        open_sealed(key, blob, b"row-2")
    with pytest.raises(KeyRingError, match="altered or sealed with another key"):
        open_sealed(generate_key(), blob, b"row-1")
    with pytest.raises(KeyRingError, match="truncated"):
        open_sealed(key, blob[:10])


def test_key_ring_round_trips_through_json_and_never_shows_its_keys() -> None:
    ring = KeyRing.single("k1").with_new_current_key()
    assert re.fullmatch(r"k-\d{8}-[0-9a-f]{4}", ring.current_key_id)
    assert set(ring.keys) == {"k1", ring.current_key_id}
    again = KeyRing.parse(ring.to_json())
    assert again == ring
    key_id, blob = ring.encrypt(b"data", b"aad")
    assert key_id == ring.current_key_id
    assert again.decrypt(key_id, blob, b"aad") == b"data"
    for key in ring.keys.values():
        assert base64.b64encode(key).decode() not in repr(ring)
    with pytest.raises(KeyRingError, match="unknown encryption key 'k9'; the key ring holds: k-"):
        ring.key("k9")
    with pytest.raises(KeyRingError, match="already holds a key 'k1'"):
        ring.with_new_current_key("k1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"current": "a", "keys": {}}', 'needs "keys"'),
        ('{"keys": {"a": "AAAA"}}', 'needs "current"'),
        ('{"current": "a", "keys": {"a": "AAAA"}}', "key 'a' must be 32 bytes, not 3"),
        ('{"current": "a", "keys": {"a": "not base64!"}}', "key 'a' is not valid base64"),
        ('{"current": "b", "keys": {"a": "' + "A" * 43 + '="}}', "current key 'b' is not in"),
        ('{"current": "a b", "keys": {"a b": "' + "A" * 43 + '="}}', "invalid key id 'a b'"),
        ('{"current": "a", "keys": {"a": "' + "A" * 43 + '="}, "x": 1}', "unknown field"),
    ],
)
def test_a_bad_key_ring_is_named_precisely(text: str, message: str) -> None:
    with pytest.raises(KeyRingError, match=re.escape(message)):
        KeyRing.parse(text)


# --- the payload codec ---------------------------------------------------------------------------


async def test_codec_round_trip_hides_payload_and_encoding() -> None:
    codec = EncryptionCodec(TEST_KEY_RING)
    [encoded] = await codec.encode([PLAIN])
    assert encoded.metadata["encoding"] == b"binary/encrypted"
    assert _key(encoded) == TEST_KEY_RING.current_key_id
    assert b"Amani" not in encoded.SerializeToString()
    assert b"json/plain" not in encoded.SerializeToString()
    assert await codec.decode([encoded]) == [PLAIN]


async def test_after_rotation_old_payloads_decode_and_new_ones_use_the_new_key() -> None:
    old = KeyRing.single("k1")
    [sealed_before] = await EncryptionCodec(old).encode([PLAIN])
    rotated = EncryptionCodec(old.with_new_current_key("k2"))
    [sealed_after] = await rotated.encode([PLAIN])
    assert (_key(sealed_before), _key(sealed_after)) == ("k1", "k2")
    assert await rotated.decode([sealed_before, sealed_after]) == [PLAIN, PLAIN]


async def test_plain_payloads_pass_through_decode() -> None:
    assert await EncryptionCodec(TEST_KEY_RING).decode([PLAIN]) == [PLAIN]


async def test_tampered_ciphertext_is_refused() -> None:
    codec = EncryptionCodec(TEST_KEY_RING)
    [encoded] = await codec.encode([PLAIN])
    flipped = bytearray(encoded.data)
    flipped[-1] ^= 1
    encoded.data = bytes(flipped)
    with pytest.raises(KeyRingError, match="cannot decrypt a payload: decryption failed"):
        await codec.decode([encoded])


async def test_unknown_key_id_is_refused_with_the_ids_the_ring_holds() -> None:
    [foreign] = await EncryptionCodec(KeyRing.single("retired-2025")).encode([PLAIN])
    with pytest.raises(KeyRingError) as raised:
        await EncryptionCodec(TEST_KEY_RING).decode([foreign])
    assert str(raised.value) == (
        "cannot decrypt a payload: unknown encryption key 'retired-2025'; "
        "the key ring holds: test-1, test-2"
    )


# --- settings ------------------------------------------------------------------------------------


def test_key_file_must_be_readable_and_valid(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("REMEDIATION_KEYS")
    monkeypatch.setenv("REMEDIATION_KEY_FILE", str(tmp_path / "missing.json"))
    with pytest.raises(StartupError, match=r"REMEDIATION_KEY_FILE: cannot read .*missing\.json"):
        load_settings()
    broken = tmp_path / "keys.json"
    broken.write_text('{"current": "a", "keys": {"a": "AAAA"}}')
    monkeypatch.setenv("REMEDIATION_KEY_FILE", str(broken))
    with pytest.raises(StartupError, match=r"keys\.json: key 'a' must be 32 bytes"):
        load_settings()
    broken.write_text(TEST_KEY_RING.to_json())
    assert key_ring_from(load_settings()) == TEST_KEY_RING


def test_encryption_settings_are_validated_and_masked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(StartupError, match="REMEDIATION_KEYS: the key ring is not valid JSON"):
        load_settings(remediation_keys="{not json")
    key_file = tmp_path / "keys.json"
    key_file.write_text(TEST_KEY_RING.to_json())
    with pytest.raises(StartupError, match="not both"):
        load_settings(remediation_key_file=key_file)  # REMEDIATION_KEYS is set too
    with pytest.raises(StartupError, match="CODEC_SERVER_TOKEN: must be at least 16"):
        load_settings(codec_server_token="short")
    with pytest.raises(StartupError, match="CODEC_CORS_ORIGIN: must be an origin"):
        load_settings(codec_cors_origin="http://localhost:8233/namespaces")
    monkeypatch.setenv("CODEC_SERVER_TOKEN", "a-long-enough-codec-token")
    settings = load_settings()
    assert (settings.codec_server_port, settings.codec_cors_origin) == (
        8234,
        "http://localhost:8233",
    )
    view = settings.public_view()
    assert (view["remediation_keys"], view["codec_server_token"]) == ("***", "***")
    assert "a-long-enough" not in str(view)
    for key in TEST_KEY_RING.keys.values():
        assert base64.b64encode(key).decode() not in str(view)


def test_commands_find_the_key_ring_of_the_running_stack(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys.json"
    key_file.write_text(TEST_KEY_RING.to_json())
    stack = RunningStack(
        pid=os.getpid(),
        ui_url="http://localhost:1",
        temporal_address="localhost:2",
        namespace="default",
        task_queue="remediation",
        http_api_url="http://localhost:3",
        database_url="postgresql://postgres@localhost:4/remediation",
        data_dir=str(tmp_path),
        logs_dir=str(tmp_path / "logs"),
        key_file=str(key_file),
    )
    monkeypatch.delenv("REMEDIATION_KEYS")
    monkeypatch.setenv("REMEDIATION_DATA_DIR", str(tmp_path))
    assert key_ring_from(load_settings()) is None
    (tmp_path / STACK_FILE).write_text(json.dumps(asdict(stack)))
    assert key_ring_from(load_settings()) == TEST_KEY_RING


# --- what Temporal stores ------------------------------------------------------------------------


def _payloads_in(message: Message) -> list[Payload]:
    """Every Payload inside a protobuf message (inputs, results, memos, headers...) except search
    attributes, which the server must read to index, so no codec touches them (and they never
    hold personal data)."""
    if isinstance(message, Payload):
        return [message]
    found: list[Payload] = []
    for field, value in message.ListFields():
        if field.message_type is None or field.name == "search_attributes":
            continue
        if field.message_type.GetOptions().map_entry:
            values = list(value.values())
        elif isinstance(value, Message):
            values = [value]
        else:  # a repeated field
            values = list(value)
        for item in values:
            if isinstance(item, Message):
                found += _payloads_in(item)
    return found


async def test_temporal_never_sees_a_reporters_name(
    temporal_env: WorkflowEnvironment, engine: Engine
) -> None:
    marker = f"Marker Reporter {uuid.uuid4().hex}"
    intake = Intake.model_validate(
        examples.intake(reporter={"anonymous": False, "name": marker, "contact": marker})
    )
    incident_id = await incidents.open_incident(engine.client, intake, task_queue=engine.task_queue)
    await incidents.decide(
        engine.client, incident_id, DecisionKind.ACKNOWLEDGE, examples.acknowledge()
    )
    status = await incidents.status(engine.client, incident_id)
    assert status.incident_id == incident_id

    # A client without the codec sees what the server stores.
    config = temporal_env.client.service_client.config
    raw_client = await Client.connect(
        config.target_host,
        namespace=temporal_env.client.namespace,
        data_converter=pydantic_data_converter,
    )
    history = await raw_client.get_workflow_handle(incident_id).fetch_history()
    stored = b"".join(event.SerializeToString() for event in history.events)
    assert marker.encode() not in stored
    assert marker not in history.to_json()
    # Patch markers (`workflow.patched` ids) are the SDK's own, written without the codec.
    payloads = [
        payload
        for event in history.events
        if event.marker_recorded_event_attributes.marker_name != "core_patch"
        for payload in _payloads_in(event)
    ]
    assert payloads and all(p.metadata["encoding"] == b"binary/encrypted" for p in payloads)

    decoded = await EncryptionCodec(TEST_KEY_RING).decode(payloads)
    assert any(marker.encode() in payload.data for payload in decoded)


async def test_plain_json_from_a_client_without_the_codec_is_accepted(
    temporal_env: WorkflowEnvironment, engine: Engine
) -> None:
    """What the HTTP API or an SDK client without the codec (or a Web UI without a codec
    endpoint) sends is plain JSON; the engine reads it as it is."""
    config = temporal_env.client.service_client.config
    plain_client = await Client.connect(
        config.target_host,
        namespace=temporal_env.client.namespace,
        data_converter=pydantic_data_converter,
    )
    intake = examples.intake()
    incident_id = f"incident-{intake['external_reference']}"
    await plain_client.start_workflow(
        "IncidentWorkflow", {"intake": intake}, id=incident_id, task_queue=engine.task_queue
    )
    result = await incidents.decide(
        engine.client, incident_id, DecisionKind.ACKNOWLEDGE, examples.acknowledge()
    )
    assert result.outcome == "accepted"


# --- the worker and commands refuse to run without a key ring ------------------------------------


async def test_the_worker_refuses_to_start_without_a_key_ring(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "REMEDIATION_KEYS": "",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/unused",
        "REMEDIATION_DATA_DIR": str(tmp_path),
        "LOG_FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workers.cli", "worker", env=env, cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1, stderr.decode()
    errors = [line for line in stderr.decode().splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr.decode()
    assert "key ring" in errors[0] and "REMEDIATION_KEYS" in errors[0]


# --- the codec server ----------------------------------------------------------------------------

TOKEN = "codec-token-for-the-tests"
UI_ORIGIN = "http://localhost:8233"


@pytest.fixture
async def codec_url() -> AsyncIterator[str]:
    port = free_port()
    runner = await start_codec_server(TEST_KEY_RING, TOKEN, UI_ORIGIN, "127.0.0.1", port)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _body(*payloads: Payload) -> dict[str, Any]:
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


def _payloads(body: dict[str, Any]) -> list[Payload]:
    return [
        Payload(
            metadata={k: base64.b64decode(v) for k, v in item.get("metadata", {}).items()},
            data=base64.b64decode(item.get("data", "")),
        )
        for item in body["payloads"]
    ]


async def _post(
    url: str, body: dict[str, Any], token: str | None = TOKEN
) -> tuple[int, dict[str, Any] | str]:
    headers = {"X-Namespace": "default"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def test_codec_server_requires_the_token(codec_url: str) -> None:
    for token in (None, "wrong-token-of-some-length", TOKEN + "x"):
        status, _ = await _post(f"{codec_url}/decode", _body(PLAIN), token)
        assert status == 401
    status, _ = await _post(f"{codec_url}/encode", _body(PLAIN), None)
    assert status == 401
    async with aiohttp.ClientSession() as session, session.get(f"{codec_url}/health") as health:
        assert health.status == 200


async def test_codec_server_takes_the_token_in_the_path_for_the_web_ui(codec_url: str) -> None:
    """A dev server's UI cannot send a bearer token; its endpoint carries it as /t/<token>."""
    encoded = _body(*await EncryptionCodec(TEST_KEY_RING).encode([PLAIN]))
    status, decoded = await _post(f"{codec_url}/t/{TOKEN}/decode", encoded, None)
    assert status == 200 and isinstance(decoded, dict) and _payloads(decoded) == [PLAIN]
    status, _ = await _post(f"{codec_url}/t/{TOKEN}x/decode", encoded, None)
    assert status == 401
    status, _ = await _post(f"{codec_url}/t/decode", encoded, None)
    assert status == 401


async def test_codec_server_encodes_and_decodes(codec_url: str) -> None:
    status, encoded = await _post(f"{codec_url}/encode", _body(PLAIN))
    assert status == 200 and isinstance(encoded, dict)
    [sealed] = _payloads(encoded)
    assert sealed.metadata["encoding"] == b"binary/encrypted" and b"Amani" not in sealed.data
    # The protocol looks at the last path segment only: it may be mounted under a prefix.
    status, decoded = await _post(f"{codec_url}/codec/decode", encoded)
    assert status == 200 and isinstance(decoded, dict)
    assert _payloads(decoded) == [PLAIN]
    status, passed = await _post(f"{codec_url}/decode", _body(PLAIN))
    assert status == 200 and isinstance(passed, dict) and _payloads(passed) == [PLAIN]

    [foreign] = await EncryptionCodec(KeyRing.single("elsewhere")).encode([PLAIN])
    status, refused = await _post(f"{codec_url}/decode", _body(foreign))
    assert status == 400 and "unknown encryption key 'elsewhere'" in str(refused)


async def test_codec_server_allows_only_the_ui_origin(codec_url: str) -> None:
    async def preflight(origin: str) -> aiohttp.ClientResponse:
        headers = {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        }
        async with (
            aiohttp.ClientSession() as session,
            session.options(f"{codec_url}/decode", headers=headers) as response,
        ):
            return response

    allowed = await preflight(UI_ORIGIN)
    assert allowed.status < 300
    assert allowed.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    allowed_headers = {
        h.strip().lower() for h in allowed.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"content-type", "authorization", "x-namespace"} <= allowed_headers

    other = await preflight("http://evil.example")
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Headers" not in other.headers


async def _encode_as_the_web_ui(codec_url: str, value: dict[str, Any]) -> Payload:
    """What the Web UI does with JSON typed into it when its codec endpoint is set (as `up` sets
    it, the token in the path): POST it to `<endpoint>/encode` from the UI's origin."""
    plain = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())
    headers = {"Origin": UI_ORIGIN, "X-Namespace": "default"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{codec_url}/t/{TOKEN}/encode", json=_body(plain), headers=headers) as answer,
    ):
        assert answer.status == 200, await answer.text()
        assert answer.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
        [encoded] = _payloads(await answer.json())
    assert encoded.metadata["encoding"] == b"binary/encrypted"
    assert _key(encoded) == TEST_KEY_RING.current_key_id
    assert b"json/plain" not in encoded.data
    # The worker's data converter reads it back as the same JSON.
    assert await TEST_DATA_CONVERTER.decode([encoded], [dict[str, Any]]) == [value]
    return encoded


def _payload_json(payload: Payload) -> dict[str, Any]:
    """A payload in Temporal's protobuf JSON, as the Web UI sends it after encoding."""
    [item] = _body(payload)["payloads"]
    return item  # type: ignore[no-any-return]


async def test_what_the_web_ui_sends_through_the_codec_is_stored_encrypted_and_applied(
    temporal_env: WorkflowEnvironment, engine: Engine, http_api: str, codec_url: str
) -> None:
    """An `approve` update and a `note` signal as the Web UI sends them with `up`'s codec
    endpoint: encoded by the codec server, then sent to Temporal as `binary/encrypted`."""
    incident_id = await open_incident(engine)
    level = await to_response(engine, incident_id)
    pending = await decide(engine, incident_id, "response", examples.response(level))
    assert pending.approval_id is not None
    marker = f"note {uuid.uuid4().hex}"
    approval = await _encode_as_the_web_ui(codec_url, examples.approve(pending.approval_id))
    note = await _encode_as_the_web_ui(codec_url, {"actor": examples.CASE_OWNER, "text": marker})

    answer = await api.post(
        f"{http_api}/workflows/{incident_id}/update/approve",
        {
            "request": {
                "meta": {"updateId": str(uuid.uuid4())},
                "input": {"name": "approve", "args": {"payloads": [_payload_json(approval)]}},
            },
            "waitPolicy": {"lifecycleStage": api.COMPLETED},
        },
    )
    assert answer.status == 200, answer.text
    assert "failure" not in answer.body["outcome"], answer.text
    answer = await api.post(
        f"{http_api}/workflows/{incident_id}/signal/note",
        {"input": {"payloads": [_payload_json(note)]}},
    )
    assert answer.status == 200, answer.text

    # The engine applied both.
    assert (await status(engine, incident_id)).step == Step.ACTION_PLAN

    async def note_recorded() -> bool:
        timeline = await incidents.timeline(engine.client, incident_id)
        return any(event.kind == "note" for event in timeline)

    await eventually(note_recorded, "the note on the timeline")

    # Temporal stored both encrypted, as a client without the codec sees them.
    config = temporal_env.client.service_client.config
    raw_client = await Client.connect(
        config.target_host,
        namespace=temporal_env.client.namespace,
        data_converter=pydantic_data_converter,
    )
    history = await raw_client.get_workflow_handle(incident_id).fetch_history()
    [approved] = [
        event.workflow_execution_update_accepted_event_attributes.accepted_request.input.args
        for event in history.events
        if event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        == "approve"
    ]
    [noted] = [
        event.workflow_execution_signaled_event_attributes.input
        for event in history.events
        if event.workflow_execution_signaled_event_attributes.signal_name == "note"
    ]
    for stored in (approved, noted):
        assert [p.metadata["encoding"] for p in stored.payloads] == [b"binary/encrypted"]
    assert list(approved.payloads) == [approval] and list(noted.payloads) == [note]
    assert marker.encode() not in b"".join(e.SerializeToString() for e in history.events)


async def test_codec_server_command_serves_until_sigterm() -> None:
    port = free_port()
    env = {**os.environ, "CODEC_SERVER_TOKEN": TOKEN, "LOG_FORMAT": "json"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workers.cli", "codec-server", "--port", str(port), env=env,
        cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        status, decoded = await eventually(
            lambda: _post(f"http://127.0.0.1:{port}/decode", _body(PLAIN)),
            "the codec server answering",
            interval=0.1,
            ignoring=(aiohttp.ClientConnectionError,),
        )
        assert status == 200 and isinstance(decoded, dict) and _payloads(decoded) == [PLAIN]
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_codec_server_command_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEC_SERVER_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["codec-server"])
    assert result.exit_code == 1
    assert "CODEC_SERVER_TOKEN is not set" in result.output


# --- `remediation keys` --------------------------------------------------------------------------


def test_keys_generate_and_rotate(tmp_path: Path) -> None:
    runner = CliRunner()
    generated = runner.invoke(app, ["keys", "generate", "--key-id", "first"])
    assert generated.exit_code == 0, generated.output
    ring = KeyRing.parse(generated.output)
    assert ring.current_key_id == "first" and len(ring.keys["first"]) == 32

    file = tmp_path / "keys.json"
    file.write_text(generated.output)
    file.chmod(0o600)
    rotated = runner.invoke(app, ["keys", "rotate", "--file", str(file)])
    assert rotated.exit_code == 0, rotated.output
    new_id = rotated.output.strip()
    after = KeyRing.parse(file.read_text())
    assert after.current_key_id == new_id != "first"
    assert after.keys["first"] == ring.keys["first"]
    assert stat.S_IMODE(file.stat().st_mode) == 0o600

    missing = runner.invoke(app, ["keys", "rotate", "--file", str(tmp_path / "none.json")])
    assert missing.exit_code == 1 and "cannot rotate" in missing.output


def test_encrypted_data_converter_keeps_pydantic_payloads() -> None:
    converter: DataConverter = encrypted_data_converter(TEST_KEY_RING)
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class
    assert isinstance(converter.payload_codec, EncryptionCodec)
