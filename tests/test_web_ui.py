"""The Temporal Web UI as operators use it, in a real browser: lists filtered by the engine's
search attributes, and each incident's current details decoded by the codec server.

The module starts its own stack: a codec server, a Temporal dev server with its Web UI pointed at
that codec server (as `remediation up` starts them), and the engine's worker with the suite's key
ring, so every payload is stored encrypted and only the codec server can show it. The browser is
Debian's Chromium at /usr/bin/chromium, driven by Playwright (`make test` installs both; see
docs/development.md, The Web UI check).

The page readers below (`listed_workflow_ids`, `current_details`) take any list query or
incident: a check of another view is a query and the ids it should list.
"""

import re
import secrets
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from temporalio.client import Client

from schemas.decisions import DecisionKind
from schemas.intake import Intake
from tests.conftest import TEST_DATA_CONVERTER, TEST_KEY_RING, did_fail, free_ports
from tests.waiting import eventually
from workers import incident_client as incidents
from workers.codec_server import start_codec_server
from workers.devstack import examples
from workers.devstack.dev_server import DevServer, DevServerConfig
from workers.settings import load_settings
from workers.ui_views import list_url, views
from workers.worker import build_worker

try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError as missing:
    raise ImportError(
        "tests/test_web_ui.py needs Playwright, from the `test` extra: run `make test` (or "
        "`.venv/bin/pip install -e '.[local,test]'`)"
    ) from missing

CHROMIUM = Path("/usr/bin/chromium")
# For a machine with no outside network: no GPU, no QUIC, and none of the background requests
# (updates, sync, field trials) whose refused connections otherwise pile up. Playwright gives
# each launch a fresh, temporary profile.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every wait on the UI: generous, as the machine may be busy with other tests.
UI_TIMEOUT_MS = 30_000
UI_TIMEOUT_SECONDS = UI_TIMEOUT_MS / 1000
NAMESPACE = "default"
T = TypeVar("T")

# The Web UI 2.x's workflow list: one row per workflow, whose links lead to
# /namespaces/<namespace>/workflows/<workflow id>/<run id>/...; while it loads there is neither a
# row nor one of the two headings that stand for an empty table (of a filtered list: no workflow
# matches, or the query is refused).
LIST_ROW = 'tr[data-testid="workflows-summary-configurable-table-row"]'
ROW_LINK = 'a[href*="/workflows/"]'
NO_WORKFLOWS = "No Workflows Found"
QUERY_REFUSED = "Error Filtering Workflows"
# An incident's page: the "User Metadata" tab renders the current details (Markdown, decoded by
# the codec server) in this frame.
METADATA_TAB = "User Metadata"
CURRENT_DETAILS_FRAME = "iframe#user-metadata-current-details"


# --- the stack and the browser ---------------------------------------------------------------


@dataclass(frozen=True)
class WebUi:
    """The stack of this module: the UI's base URL, and a client and task queue of the engine."""

    url: str
    client: Client
    task_queue: str


@pytest.fixture(scope="module")
async def web_ui(
    register_pool: asyncpg.Pool, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[WebUi]:
    root = tmp_path_factory.mktemp("web-ui")
    ui_port, codec_port, frontend_port, http_port = free_ports(4)
    # The browser opens the UI at 127.0.0.1, so that is the origin the codec server allows.
    ui_url = f"http://127.0.0.1:{ui_port}"
    token = secrets.token_urlsafe(24)
    codec = await start_codec_server(TEST_KEY_RING, token, ui_url, "127.0.0.1", codec_port)
    server = DevServer(
        DevServerConfig(
            db_file=root / "temporal.sqlite",
            log_path=root / "temporal.log",
            port=frontend_port,
            ui_port=ui_port,
            http_port=http_port,
            namespace=NAMESPACE,
            # As `remediation up` gives it: the token in the path, as the UI sends no header.
            ui_codec_endpoint=f"http://127.0.0.1:{codec_port}/t/{token}",
        )
    )
    try:
        await server.start()
        client = await Client.connect(
            server.config.address, namespace=NAMESPACE, data_converter=TEST_DATA_CONVERTER
        )
        task_queue = f"web-ui-{uuid.uuid4().hex[:8]}"
        settings = load_settings(task_queue=task_queue, database_url="postgresql://unused")
        async with build_worker(client, settings, register_pool):
            yield WebUi(ui_url, client, task_queue)
    finally:
        await server.stop()
        await codec.cleanup()


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium; a failure, never a skip, where it is missing."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium package (as root, "
            "with apt-get), see docs/development.md, The Web UI check",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="module")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, timeout=UI_TIMEOUT_MS * 2
        )
        yield browser
        await browser.close()


@pytest.fixture
async def page(
    browser: Browser, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Page]:
    """A fresh page; when the test fails, its screenshot, HTML and console are kept in the
    test's tmp_path."""
    context = await browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    try:
        yield page
    finally:
        if did_fail(request):
            await page.screenshot(path=tmp_path / "web-ui.png", full_page=True)
            (tmp_path / "web-ui.html").write_text(await page.content())
            (tmp_path / "web-ui-console.log").write_text("\n".join(console) + "\n")
            print(f"The page at failure ({page.url}): {tmp_path}/web-ui.png, .html, -console.log")
        await context.close()


# --- reading the UI's pages ------------------------------------------------------------------


async def listed_workflow_ids(page: Page, url: str) -> list[str]:
    """The ids of the workflows a list URL of the UI shows (its first page), in its order, once
    the table has loaded; fails with the UI's message if the UI refuses the query."""
    await page.goto(url)
    rows = page.locator(LIST_ROW)
    empty = page.get_by_role("heading", name=NO_WORKFLOWS)
    refused = page.get_by_role("heading", name=QUERY_REFUSED)
    await expect(rows.or_(empty).or_(refused).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    if await refused.is_visible():
        reason = await refused.locator("xpath=following-sibling::p").inner_text()
        raise AssertionError(f"the Web UI refused the query of {url}: {reason}")
    hrefs: list[str] = await rows.evaluate_all(
        "(rows, link) => rows.map(row => row.querySelector(link).getAttribute('href'))", ROW_LINK
    )
    return [_workflow_id_in(href) for href in hrefs]


def _workflow_id_in(href: str) -> str:
    """'/namespaces/default/workflows/incident-X/<run id>/timeline' -> 'incident-X'."""
    parts = urllib.parse.urlsplit(href).path.split("/")
    return urllib.parse.unquote(parts[parts.index("workflows") + 1])


async def current_details(
    page: Page, ui_url: str, workflow_id: str, namespace: str = NAMESPACE
) -> str:
    """The current details of a workflow as its page in the UI shows them (the text rendered from
    their Markdown), opened as an operator does: its page, then the User Metadata tab."""
    workflow = urllib.parse.quote(workflow_id, safe="")
    await page.goto(f"{ui_url}/namespaces/{namespace}/workflows/{workflow}")
    await page.get_by_role("tab", name=METADATA_TAB, exact=True).click()
    rendered = page.frame_locator(CURRENT_DETAILS_FRAME).locator("body")
    await expect(rendered).to_have_text(re.compile(r"\S"), timeout=UI_TIMEOUT_MS)
    return await rendered.inner_text()


async def shown_eventually(
    read: Callable[[], Awaitable[T]], wanted: Callable[[T], bool], what: str
) -> T:
    """What `read` (one of the readers above) returns once it is `wanted`, read again every half
    second for 30 s: visibility lags the workflows by a second or so, and a workflow's details
    follow its first task. Fails naming `what` and what the page showed last."""
    last: list[T] = []

    async def probe() -> list[T] | None:
        last[:] = [await read()]
        return last if wanted(last[0]) else None

    [shown] = await eventually(
        probe,
        lambda: f"the Web UI showing {what} (it showed {last[0] if last else 'nothing'!r})",
        timeout=UI_TIMEOUT_SECONDS,
        interval=0.5,
    )
    return shown


# --- the checks ------------------------------------------------------------------------------


async def open_incident(web_ui: WebUi, **changes: Any) -> str:
    intake = Intake.model_validate(examples.intake(**changes))
    return await incidents.open_incident(web_ui.client, intake, task_queue=web_ui.task_queue)


# What a payload the UI could not decode would show instead: the encoding's name, plain or in
# base64, or any long run of base64.
UNDECODED = re.compile(r"binary/encrypted|YmluYXJ5L2VuY3J5cHRlZA|[A-Za-z0-9+/=]{40,}")


async def test_the_web_ui_lists_incidents_by_severity_and_shows_their_current_details_decoded(
    web_ui: WebUi, page: Page
) -> None:
    # Incidents of this test only: each query also names their facility.
    facility = f"WEBUI-{uuid.uuid4().hex[:12]}"
    owner = examples.CASE_OWNER["id"]
    common = {"facility_ids": [facility], "case_owner": owner}
    # Imminent danger with a grave harm (debt bondage) is critical at intake; without it, medium.
    critical = await open_incident(web_ui, imminent_danger=True, **common)
    medium = await open_incident(web_ui, **common)

    # Once both are listed, visibility has caught up: the filtered list then shows all it will.
    mine = f'FacilityId = "{facility}"'
    both = await shown_eventually(
        lambda: listed_workflow_ids(page, list_url(web_ui.url, NAMESPACE, mine)),
        lambda ids: sorted(ids) == sorted([critical, medium]),
        f"both incidents listed by {mine}",
    )
    assert len(both) == 2, both  # each once
    query = f'{mine} AND Severity = "critical"'
    assert await listed_workflow_ids(page, list_url(web_ui.url, NAMESPACE, query)) == [critical]

    details = await shown_eventually(
        lambda: current_details(page, web_ui.url, critical),
        lambda text: "Awaiting" in text,
        f"what {critical} awaits in its current details",
    )
    assert "Step 1 of 6: verification" in details, details
    assert "Severity: critical (provisional)" in details, details
    assert f"Case owner: {owner}" in details, details
    assert f"acknowledge from {owner}" in details, details
    assert not UNDECODED.search(details), details


async def test_a_ready_made_view_lists_what_awaits_approval_and_the_details_say_by_when(
    web_ui: WebUi, page: Page
) -> None:
    # This module's dev server holds only its own incidents; those of the test above await no
    # approval and have an owner.
    owner = f"owner.webui-{uuid.uuid4().hex[:8]}"
    as_owner = {"id": owner, "roles": ["case_owner"]}
    at_approval = await open_incident(web_ui, case_owner=owner)
    unassigned = await open_incident(web_ui)
    client = web_ui.client
    await incidents.decide(
        client, at_approval, DecisionKind.ACKNOWLEDGE, {**examples.acknowledge(), "actor": as_owner}
    )
    await incidents.decide(client, at_approval, DecisionKind.VERIFICATION, examples.verification())
    level = (await incidents.status(client, at_approval)).proposed_response_level
    assert level is not None
    await incidents.decide(
        client, at_approval, DecisionKind.RESPONSE, {**examples.response(level), "actor": as_owner}
    )
    [approval] = (await incidents.status(client, at_approval)).pending_approvals
    assert approval.due_at is not None

    # The views exactly as `remediation inbox --links` prints them.
    by_name = {view.name: view for view in views("approver.sofia", ["approver"])}
    awaiting_approval = list_url(web_ui.url, NAMESPACE, by_name["awaiting my approval"].query)
    await shown_eventually(
        lambda: listed_workflow_ids(page, awaiting_approval),
        lambda ids: ids == [at_approval],
        f"only {at_approval} in the view awaiting approval",
    )
    nobodys = list_url(web_ui.url, NAMESPACE, by_name["unassigned"].query)
    assert await listed_workflow_ids(page, nobodys) == [unassigned]

    details = await shown_eventually(
        lambda: current_details(page, web_ui.url, at_approval),
        lambda text: "approval response-1" in text,
        f"the approval in the current details of {at_approval}",
    )
    due = approval.due_at.astimezone(UTC)
    assert f"from an approver other than {owner}, by {due:%Y-%m-%d %H:%M} UTC" in details, details
    assert not UNDECODED.search(details), details
