"""Static checks of the deployment files in deploy/: they parse, and they agree with the code.

Nothing is built or started. The compose file, the Kubernetes manifests, the Helm values and the
Dockerfile are read as YAML and text and compared with what they depend on: the settings model
(every variable set for our image must be a Settings field), the command line (every `remediation`
command they run must exist), workflows/search_attributes.py (the attributes they register), the
version in pyproject.toml (the one image name) and each other (ports, namespace, ordering). A
renamed setting, command or port fails here instead of in a rollout.
"""

import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer
import typer.core
import typer.main
import yaml
from pydantic import AliasChoices

from schemas.common import MESSAGE_MAX_BYTES
from workers.cli import app
from workers.devstack.dev_server import IN_FLIGHT_UPDATES_KEY, IN_FLIGHT_UPDATES_MAX
from workers.settings import Settings
from workflows.search_attributes import cli_definitions

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_FILE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
HELM_VALUES = K8S / "temporal-values.yaml"
NAMESPACE_SCRIPT = DEPLOY / "scripts" / "temporal-namespace.sh"
POLICY_FILE = DEPLOY / "policy.toml"
IMAGE_NAME = "remediation-engine"
PLACEHOLDER = "REPLACE_ME"
# Variables of the Python runtime in the Dockerfile, not settings of the engine.
INTERPRETER_VARIABLES = {"PATH", "VIRTUAL_ENV"}
INTERPRETER_PREFIXES = ("PYTHON", "PIP_")
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|PWD|TOKEN|SECRET|API_KEY|DATABASE_URL|KEYS$")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


# --- reading the files ---------------------------------------------------------------------------


def _mapping(value: Any, where: str) -> dict[str, Any]:
    assert isinstance(value, dict), f"{where}: expected a mapping, found {type(value).__name__}"
    return value


def _load_yaml(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as stream:
        return [document for document in yaml.safe_load_all(stream) if document is not None]


@cache
def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as stream:
        return str(tomllib.load(stream)["project"]["version"])


def expected_image() -> str:
    return f"{IMAGE_NAME}:{project_version()}"


def is_our_image(image: str) -> bool:
    return image.rsplit("/", 1)[-1].split(":", 1)[0] == IMAGE_NAME


@cache
def settings_variables() -> frozenset[str]:
    """Every environment variable the settings model reads, upper-cased: each field's name (the
    model populates by name) and its validation aliases."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        names.add(name.upper())
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            names.update(choice.upper() for choice in alias.choices if isinstance(choice, str))
    return frozenset(names)


def settings_default(field: str) -> Any:
    return Settings.model_fields[field].default


# --- compose -------------------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    (document,) = _load_yaml(COMPOSE_FILE)
    return _mapping(document, str(COMPOSE_FILE))


def services() -> dict[str, dict[str, Any]]:
    found = _mapping(compose().get("services"), "compose services")
    return {name: _mapping(service, f"service {name}") for name, service in found.items()}


def our_services() -> dict[str, dict[str, Any]]:
    """The services that run the engine's image."""
    return {
        name: service
        for name, service in services().items()
        if "build" in service or is_our_image(str(service.get("image", "")))
    }


def environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (str(item).split("=", 1) for item in raw)
        return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}
    return {str(key): str(value) for key, value in _mapping(raw, "environment").items()}


def argv(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(word) for word in value]


def service_running(*words: str) -> tuple[str, dict[str, Any]]:
    """The one service of ours whose command starts with `words`."""
    matches = [
        (name, service)
        for name, service in our_services().items()
        if argv(service.get("command"))[: len(words)] == list(words)
    ]
    assert len(matches) == 1, f"expected one compose service running {words}, found {matches}"
    return matches[0]


def service_with_variable(variable: str) -> tuple[str, dict[str, Any]]:
    matches = [(n, s) for n, s in services().items() if variable in environment(s)]
    assert len(matches) == 1, f"expected one compose service setting {variable}, found {matches}"
    return matches[0]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Each dependency with its condition (`service_started` for the short form)."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return {str(name): "service_started" for name in raw}
    return {
        str(name): str(_mapping(spec or {}, name).get("condition", "service_started"))
        for name, spec in _mapping(raw, "depends_on").items()
    }


def url_port(url: str) -> int:
    parts = urlsplit(url)
    assert parts.port is not None, f"{url} names no port"
    return parts.port


def healthcheck_url(service: dict[str, Any]) -> str:
    test = " ".join(argv(_mapping(service.get("healthcheck"), "healthcheck").get("test")))
    found = re.search(r"https?://[^'\" ]+", test)
    assert found, f"the healthcheck {test!r} calls no URL"
    return found.group(0)


def published(service: dict[str, Any]) -> dict[int, int]:
    """Container port -> host port of each published port."""
    ports: dict[int, int] = {}
    for entry in service.get("ports") or []:
        parts = str(entry).split(":")
        ports[int(parts[-1].split("/")[0])] = int(parts[-2])
    return ports


# --- Kubernetes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    path: Path
    document: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.document.get("kind"))

    @property
    def name(self) -> str:
        return str(self.document.get("metadata", {}).get("name"))


@dataclass(frozen=True)
class Container:
    where: str
    spec: dict[str, Any]
    pod: dict[str, Any]
    workload: Manifest
    init: bool

    @property
    def image(self) -> str:
        return str(self.spec.get("image", ""))

    @property
    def args(self) -> list[str]:
        return argv(self.spec.get("command")) + argv(self.spec.get("args"))


@cache
def manifests() -> tuple[Manifest, ...]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path == HELM_VALUES:
            continue
        for document in _load_yaml(path):
            found.append(Manifest(path, _mapping(document, str(path))))
    return tuple(found)


def manifests_of(kind: str) -> list[Manifest]:
    return [manifest for manifest in manifests() if manifest.kind == kind]


def config_maps() -> dict[str, dict[str, str]]:
    return {m.name: dict(m.document.get("data") or {}) for m in manifests_of("ConfigMap")}


def secret_keys() -> dict[str, set[str]]:
    return {
        m.name: set(m.document.get("stringData") or {}) | set(m.document.get("data") or {})
        for m in manifests_of("Secret")
    }


def containers() -> Iterator[Container]:
    for manifest in manifests():
        if manifest.kind not in WORKLOAD_KINDS:
            continue
        pod = _mapping(manifest.document["spec"]["template"]["spec"], f"{manifest.name} pod")
        for init, key in ((True, "initContainers"), (False, "containers")):
            for spec in pod.get(key) or []:
                where = f"{manifest.path.name} {manifest.kind}/{manifest.name} {spec['name']}"
                yield Container(where, spec, pod, manifest, init)


def our_containers() -> list[Container]:
    return [container for container in containers() if is_our_image(container.image)]


def container_running(*words: str) -> Container:
    matches = [c for c in our_containers() if c.args[: len(words)] == list(words)]
    assert len(matches) == 1, f"expected one container running {words}, found {matches}"
    return matches[0]


def container_env(container: Container) -> dict[str, str | None]:
    """The container's variables: envFrom ConfigMaps, then env; None where a Secret holds it."""
    maps, keys = config_maps(), secret_keys()
    values: dict[str, str | None] = {}
    for source in container.spec.get("envFrom") or []:
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            assert name in maps, f"{container.where}: no ConfigMap {name} in deploy/k8s"
            values.update(maps[name])
        if "secretRef" in source:
            name = source["secretRef"]["name"]
            assert name in keys, f"{container.where}: no Secret template {name} in deploy/k8s"
            values.update(dict.fromkeys(keys[name]))
    for item in container.spec.get("env") or []:
        reference = item.get("valueFrom") or {}
        if "configMapKeyRef" in reference:
            ref = reference["configMapKeyRef"]
            assert ref["key"] in maps.get(ref["name"], {}), f"{container.where}: {ref} not found"
            values[item["name"]] = maps[ref["name"]][ref["key"]]
        elif "secretKeyRef" in reference:
            ref = reference["secretKeyRef"]
            assert ref["key"] in keys.get(ref["name"], set()), f"{container.where}: {ref} missing"
            values[item["name"]] = None
        else:
            values[item["name"]] = str(item.get("value", ""))
    return values


def container_port(container: Container, port: int | str) -> int:
    """A probe's or Service's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    for declared in container.spec.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise AssertionError(f"{container.where} declares no port named {port}")


def deployment_container(component: str) -> Container:
    matches = [
        c
        for c in our_containers()
        if c.workload.kind == "Deployment"
        and c.workload.document["spec"]["template"]["metadata"]["labels"].get(
            "app.kubernetes.io/component"
        )
        == component
    ]
    assert len(matches) == 1, f"expected one {component} Deployment container, found {matches}"
    return matches[0]


@cache
def helm_values() -> dict[str, Any]:
    (document,) = _load_yaml(HELM_VALUES)
    return _mapping(document, str(HELM_VALUES))


def helm_web_env() -> dict[str, str]:
    web = _mapping(helm_values()["web"], "web")
    return {str(item["name"]): str(item.get("value", "")) for item in web["additionalEnv"]}


# --- the Dockerfile ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    stage: int


@cache
def dockerfile() -> tuple[Instruction, ...]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped), each with the
    index of the build stage it belongs to (-1 before the first FROM)."""
    instructions: list[Instruction] = []
    pending = ""
    stage = -1
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        pending += " " + stripped.removesuffix("\\")
        if stripped.endswith("\\"):
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(keyword.upper(), arguments.strip(), stage))
        pending = ""
    return tuple(instructions)


def dockerfile_args() -> dict[str, str]:
    return dict(
        instruction.arguments.split("=", 1)
        for instruction in dockerfile()
        if instruction.keyword == "ARG" and "=" in instruction.arguments
    )


def final_stage() -> list[Instruction]:
    last = max(instruction.stage for instruction in dockerfile())
    return [instruction for instruction in dockerfile() if instruction.stage == last]


def dockerfile_env() -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction in final_stage():
        if instruction.keyword == "ENV":
            for word in shlex.split(instruction.arguments):
                name, _, value = word.partition("=")
                values[name] = value
    return values


# --- the command line ----------------------------------------------------------------------------


def check_command(words: list[str], where: str) -> None:
    """`remediation WORDS` names a command of the Typer app, with options it declares."""
    command = typer.main.get_command(app)
    rest = list(words)
    path: list[str] = []
    while isinstance(command, typer.core.TyperGroup):
        assert rest, f"{where}: `remediation {' '.join(path)}` needs a subcommand"
        name = rest.pop(0)
        subcommand = command.commands.get(name)
        assert subcommand is not None, (
            f"{where}: `remediation {' '.join([*path, name])}` is not a command "
            f"(known: {', '.join(sorted(command.commands))})"
        )
        command, path = subcommand, [*path, name]
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for word in rest:
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            assert option in options, f"{where}: `remediation {' '.join(path)}` has no {option}"


# --- tests: files parse --------------------------------------------------------------------------


def test_every_deployment_yaml_file_parses() -> None:
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert COMPOSE_FILE in files and HELM_VALUES in files
    for path in files:
        assert _load_yaml(path), f"{path} holds no YAML document"
    for manifest in manifests():
        assert manifest.document.get("apiVersion"), (
            f"{manifest.path}: a document without apiVersion"
        )
        if manifest.kind != "Kustomization":
            assert manifest.name != "None", f"{manifest.path}: a {manifest.kind} without a name"


def test_kustomization_lists_existing_files_and_never_the_secret_templates() -> None:
    (kustomization,) = manifests_of("Kustomization")
    resources = [str(resource) for resource in kustomization.document["resources"]]
    for resource in resources:
        assert (K8S / resource).is_file(), f"kustomization.yaml lists a missing {resource}"
        kinds = {document.get("kind") for document in _load_yaml(K8S / resource)}
        assert "Secret" not in kinds, f"{resource}: applying it would overwrite real secrets"
    listed = {K8S / resource for resource in resources}
    for manifest in manifests():
        if manifest.kind in (WORKLOAD_KINDS | {"ConfigMap", "PodDisruptionBudget", "Service"}):
            assert manifest.path in listed, f"{manifest.path.name} is not in kustomization.yaml"


# --- tests: settings -----------------------------------------------------------------------------


def test_compose_sets_only_settings_the_engine_reads() -> None:
    # Depends on HEALTH_PORT, METRICS_PORT, OPS_BIND_HOST and WORKER_MAX_* being Settings fields.
    known = settings_variables()
    assert our_services(), "no compose service runs the engine's image"
    unknown = {
        f"{name}: {variable}"
        for name, service in our_services().items()
        for variable in environment(service)
        if variable.upper() not in known
    }
    assert not unknown, f"not settings of workers/settings.py: {sorted(unknown)}"


def test_kubernetes_sets_only_settings_the_engine_reads() -> None:
    # Depends on HEALTH_PORT, METRICS_PORT, OPS_BIND_HOST and WORKER_MAX_* being Settings fields.
    known = settings_variables()
    assert our_containers(), "no Kubernetes container runs the engine's image"
    unknown = {
        f"{container.where}: {variable}"
        for container in our_containers()
        for variable in container_env(container)
        if variable.upper() not in known
    }
    assert not unknown, f"not settings of workers/settings.py: {sorted(unknown)}"


def test_the_image_sets_only_settings_besides_the_interpreter_s_variables() -> None:
    known = settings_variables()
    for name in dockerfile_env():
        if name in INTERPRETER_VARIABLES or name.startswith(INTERPRETER_PREFIXES):
            continue
        assert name.upper() in known, f"deploy/Dockerfile sets {name}, which no setting reads"


# --- tests: one image ----------------------------------------------------------------------------


def test_one_image_name_everywhere_matching_the_project_version() -> None:
    expected = expected_image()
    for name, service in our_services().items():
        assert service.get("image") == expected, f"compose service {name}"
        build = _mapping(service.get("build"), f"{name} build")
        assert (
            COMPOSE_FILE.parent / build["context"] / build["dockerfile"]
        ).resolve() == DOCKERFILE
    for container in our_containers():
        assert container.image == expected, container.where
    # `kustomize edit set image` may point the name at a registry, never at another version.
    (kustomization,) = manifests_of("Kustomization")
    for entry in kustomization.document.get("images") or []:
        if entry.get("name") == IMAGE_NAME:
            assert str(entry.get("newTag", project_version())) == project_version()
    labels = " ".join(i.arguments for i in final_stage() if i.keyword == "LABEL")
    assert f'org.opencontainers.image.version="{project_version()}"' in labels


def test_third_party_images_are_pinned() -> None:
    images = [str(s["image"]) for s in services().values() if "image" in s]
    images += [container.image for container in containers()]
    for section in ("server", "admintools", "web"):
        image = helm_values()[section]["image"]
        images.append(f"{image['repository']}:{image['tag']}")
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest" and "/" not in tag, f"{image} is not pinned"


def test_temporal_versions_agree_between_compose_helm_and_the_release_job() -> None:
    tags = {
        image.rpartition(":")[2]
        for image in [str(s.get("image", "")) for s in services().values()]
        + [c.image for c in containers()]
        if image.startswith(("temporalio/server:", "temporalio/admin-tools:"))
    }
    tags |= {str(helm_values()[section]["image"]["tag"]) for section in ("server", "admintools")}
    assert len(tags) == 1, f"server and admin-tools versions differ: {sorted(tags)}"
    ui = {
        str(s["image"])
        for s in services().values()
        if str(s.get("image", "")).startswith("temporalio/ui:")
    }
    assert ui == {f"temporalio/ui:{helm_values()['web']['image']['tag']}"}


# --- tests: the Dockerfile -----------------------------------------------------------------------


def test_dockerfile_builds_a_wheel_and_runs_as_a_fixed_non_root_user() -> None:
    stages = [i for i in dockerfile() if i.keyword == "FROM"]
    assert len(stages) >= 2, "the Dockerfile must be multi-stage (builder, runtime)"
    base = stages[-1].arguments.split()[0]
    base = re.sub(r"\$\{(\w+)\}", lambda match: dockerfile_args()[match.group(1)], base)
    assert base.startswith("python:3.11-slim"), f"runtime base is {base}"
    final = final_stage()
    (user,) = [i.arguments for i in final if i.keyword == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "USER must be a numeric non-root uid (runAsNonRoot)"
    assert any(i.keyword == "RUN" and "pip wheel" in i.arguments for i in dockerfile())
    installs = [i.arguments for i in final if i.keyword == "RUN" and " install " in i.arguments]
    assert installs and all("--no-index" in run for run in installs), "install only the wheels"
    text = " ".join(i.arguments for i in final)
    for forbidden in ("gcc", "build-essential", "[local", "[test", "apt-get install"):
        assert forbidden not in text, f"the runtime stage mentions {forbidden}"
    assert [i.arguments for i in final if i.keyword == "ENTRYPOINT"] == ['["remediation"]']
    assert [i.arguments for i in final if i.keyword == "CMD"] == ['["worker"]']


def test_dockerignore_keeps_the_context_small_and_free_of_secrets() -> None:
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    required = {".git", ".venv", ".data", "tests", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
    required |= {"benchmarks"}
    assert required <= patterns, f"missing from .dockerignore: {sorted(required - patterns)}"
    assert "**/__pycache__" in patterns and "**/keys.json" in patterns


def test_the_image_and_the_wheel_hold_the_four_packages_and_not_the_benchmark() -> None:
    packages = ["schemas/", "workflows/", "activities/", "workers/"]
    copied = [i.arguments.split()[0] for i in dockerfile() if i.keyword == "COPY"]
    assert [path for path in copied if path.endswith("/")] == packages
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    included = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(included) == sorted(f"{package[:-1]}*" for package in packages)


# --- tests: ports --------------------------------------------------------------------------------


def exposed_ports() -> set[int]:
    return {
        int(port.split("/")[0])
        for instruction in final_stage()
        if instruction.keyword == "EXPOSE"
        for port in instruction.arguments.split()
    }


def test_compose_worker_ports_agree_with_its_settings_and_the_image() -> None:
    _, worker = service_running("worker")
    env = environment(worker)
    health, metrics = int(env["HEALTH_PORT"]), int(env["METRICS_PORT"])
    url = healthcheck_url(worker)
    assert url_port(url) == health and urlsplit(url).path == "/readyz"
    assert str(metrics) in [str(port) for port in worker.get("expose") or []]
    assert {health, metrics} <= exposed_ports(), "EXPOSE in deploy/Dockerfile"


def test_compose_codec_server_port_is_the_settings_default_and_the_ui_s_endpoint() -> None:
    port = settings_default("codec_server_port")
    _, codec = service_running("codec-server")
    env = environment(codec)
    assert int(env.get("CODEC_SERVER_PORT", port)) == port
    assert "--port" not in argv(codec.get("command"))
    url = healthcheck_url(codec)
    assert url_port(url) == port and urlsplit(url).path == "/healthz"
    assert port in published(codec) and port in exposed_ports()
    _, ui = service_with_variable("TEMPORAL_CODEC_ENDPOINT")
    assert url_port(environment(ui)["TEMPORAL_CODEC_ENDPOINT"]) == published(codec)[port]
    # The codec server answers browsers from the UI's origin only.
    ui_port = published(ui)[8080]
    assert env["CODEC_CORS_ORIGIN"] == f"http://localhost:{ui_port}"


def test_kubernetes_worker_probes_and_metrics_use_the_configured_ports() -> None:
    worker = deployment_container("worker")
    env = container_env(worker)
    health, metrics = int(env["HEALTH_PORT"] or 0), int(env["METRICS_PORT"] or 0)
    probes = {
        kind: _mapping(worker.spec.get(kind), f"{worker.where} {kind}")["httpGet"]
        for kind in ("livenessProbe", "readinessProbe")
    }
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    for probe in probes.values():
        assert container_port(worker, probe["port"]) == health
    assert metrics in [int(p["containerPort"]) for p in worker.spec["ports"]]
    annotations = worker.workload.document["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == metrics
    assert {health, metrics} <= exposed_ports()


def test_kubernetes_codec_server_port_is_the_settings_default() -> None:
    port = settings_default("codec_server_port")
    codec = deployment_container("codec-server")
    assert int(container_env(codec).get("CODEC_SERVER_PORT") or port) == port
    assert "--port" not in codec.args
    assert [int(p["containerPort"]) for p in codec.spec["ports"]] == [port]
    for kind in ("livenessProbe", "readinessProbe"):
        probe = codec.spec[kind]["httpGet"]
        assert probe["path"] == "/healthz" and container_port(codec, probe["port"]) == port
    labels = codec.workload.document["spec"]["template"]["metadata"]["labels"]
    (service,) = [
        s
        for s in manifests_of("Service")
        if s.document["spec"]["selector"].items() <= labels.items()
    ]
    for entry in service.document["spec"]["ports"]:
        assert container_port(codec, entry["targetPort"]) == port


def test_the_codec_server_answers_the_helm_ui_s_origin() -> None:
    codec_env = container_env(deployment_container("codec-server"))
    (host,) = helm_values()["web"]["ingress"]["hosts"][:1]
    assert codec_env["CODEC_CORS_ORIGIN"] == f"https://{host}"
    assert helm_web_env()["TEMPORAL_CODEC_ENDPOINT"].startswith("https://")


# --- tests: the Temporal namespace and its search attributes -------------------------------------


def test_compose_registers_exactly_the_engine_s_search_attributes() -> None:
    name, job = service_with_variable("SEARCH_ATTRIBUTES")
    assert environment(job)["SEARCH_ATTRIBUTES"].split() == cli_definitions()
    mounts = [str(volume).split(":") for volume in job.get("volumes") or []]
    sources = {(COMPOSE_FILE.parent / mount[0]).resolve(): mount[1] for mount in mounts}
    assert NAMESPACE_SCRIPT in sources, f"{name} does not mount {NAMESPACE_SCRIPT.name}"
    assert sources[NAMESPACE_SCRIPT] in argv(job.get("entrypoint")) + argv(job.get("command"))


def test_kubernetes_registers_exactly_the_engine_s_search_attributes() -> None:
    (job,) = [c for c in containers() if "SEARCH_ATTRIBUTES" in container_env(c)]
    assert str(container_env(job)["SEARCH_ATTRIBUTES"]).split() == cli_definitions()
    script = config_maps()["remediation-temporal-setup"]["temporal-namespace.sh"]
    assert script == NAMESPACE_SCRIPT.read_text(encoding="utf-8"), (
        "deploy/k8s/temporal-setup-configmap.yaml must hold deploy/scripts/temporal-namespace.sh"
    )
    assert '"$SEARCH_ATTRIBUTES"' not in script and "$SEARCH_ATTRIBUTES" in script
    assert any(arg.endswith("/temporal-namespace.sh") for arg in job.args)


def test_every_process_uses_the_one_namespace_and_task_queue() -> None:
    environments: list[Mapping[str, str | None]] = [environment(s) for s in services().values()]
    environments += [container_env(container) for container in containers()]
    namespaces = {
        str(env[variable])
        for env in environments
        for variable in ("TEMPORAL_NAMESPACE", "TEMPORAL_DEFAULT_NAMESPACE")
        if variable in env
    }
    queues = {str(env["TASK_QUEUE"]) for env in environments if "TASK_QUEUE" in env}
    created = helm_values()["server"]["config"]["namespaces"]
    assert created["create"] is True
    namespaces |= {str(entry["name"]) for entry in created["namespace"]}
    namespaces.add(helm_web_env()["TEMPORAL_DEFAULT_NAMESPACE"])
    assert len(namespaces) == 1, f"more than one Temporal namespace: {sorted(namespaces)}"
    assert len(queues) == 1, f"more than one task queue: {sorted(queues)}"


def test_helm_values_put_persistence_and_visibility_on_postgresql() -> None:
    persistence = helm_values()["server"]["config"]["persistence"]
    stores = persistence["datastores"]
    templates = _load_yaml(K8S / "temporal-secrets.template.yaml")
    for store, database in (
        ("defaultStore", "temporal"),
        ("visibilityStore", "temporal_visibility"),
    ):
        sql = stores[persistence[store]]["sql"]
        assert sql["pluginName"] == sql["driverName"] == "postgres12"
        assert sql["databaseName"] == database
        assert "password" not in sql, "passwords come from existingSecret"
        (secret,) = [s for s in templates if s["metadata"]["name"] == sql["existingSecret"]]
        assert sql["secretKey"] in secret["stringData"]


# --- tests: commands and their order -------------------------------------------------------------


def test_every_remediation_command_in_compose_exists() -> None:
    for name, service in our_services().items():
        entrypoint = argv(service.get("entrypoint"))
        assert entrypoint in ([], ["remediation"]), f"{name} replaces the entrypoint"
        words = argv(service.get("command"))
        assert words, f"{name} relies on the image's default command; name it"
        check_command(words, f"compose service {name}")


def test_every_remediation_command_in_the_manifests_exists() -> None:
    for container in our_containers():
        assert argv(container.spec.get("command")) in ([], ["remediation"]), container.where
        check_command(argv(container.spec.get("args")), container.where)


def test_compose_runs_the_jobs_in_order() -> None:
    done = "service_completed_successfully"
    migrate, migrate_job = service_running("db", "migrate")
    namespace, namespace_job = service_with_variable("SEARCH_ATTRIBUTES")
    for words in (("schedules", "apply"), ("worker",)):
        name, dependent = service_running(*words)
        assert depends_on(dependent).get(migrate) == done, f"{name} after the migrations"
        assert depends_on(dependent).get(namespace) == done, f"{name} after the namespace setup"
    assert "service_healthy" in depends_on(migrate_job).values(), "migrations wait for the register"
    # The namespace job waits for the server, which waits for its schema job.
    (temporal,) = depends_on(namespace_job)
    (schema,) = [n for n, c in depends_on(services()[temporal]).items() if c == done]
    assert str(services()[schema]["image"]).startswith("temporalio/admin-tools:")
    entrypoint = argv(services()[schema].get("entrypoint"))
    assert any(word.endswith("/temporal-schema.sh") for word in entrypoint), "the schema setup"


def test_the_release_job_migrates_and_sets_up_the_namespace_before_applying_schedules() -> None:
    schedules = container_running("schedules", "apply")
    assert not schedules.init, "`schedules apply` runs after every init container"
    pod = schedules.pod
    steps = [c["name"] for c in pod.get("initContainers") or []]
    migrate = container_running("db", "migrate")
    assert migrate.init and migrate.pod is pod, "migrations are an init container of the job"
    (namespace,) = [c for c in containers() if "SEARCH_ATTRIBUTES" in container_env(c)]
    assert namespace.init and namespace.pod is pod
    assert steps.index(namespace.spec["name"]) < steps.index(migrate.spec["name"])
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    assert project_version().replace(".", "-") in schedules.workload.name, "one Job per version"


# --- tests: the workers --------------------------------------------------------------------------


def grace_seconds(env: Mapping[str, str | None]) -> float:
    value = env.get("SHUTDOWN_GRACE_SECONDS")
    return float(value) if value else float(settings_default("shutdown_grace_seconds"))


def duration_seconds(text: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text}"
    return sum(float(number) * units[unit] for number, unit in parts)


def test_compose_workers_are_replicated_and_stop_gracefully() -> None:
    _, worker = service_running("worker")
    env = environment(worker)
    assert env["MIGRATE_ON_START"] == "false"
    assert int(worker["deploy"]["replicas"]) >= 2
    assert duration_seconds(str(worker["stop_grace_period"])) > grace_seconds(env)
    assert worker.get("read_only") is True


def test_kubernetes_workers_are_replicated_bounded_and_stop_gracefully() -> None:
    worker = deployment_container("worker")
    env = container_env(worker)
    assert env["MIGRATE_ON_START"] == "false"
    spec = worker.workload.document["spec"]
    assert int(spec["replicas"]) >= 2
    assert int(worker.pod["terminationGracePeriodSeconds"]) > grace_seconds(env)
    resources = worker.spec["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
    labels = spec["template"]["metadata"]["labels"]
    (budget,) = manifests_of("PodDisruptionBudget")
    assert budget.document["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert int(budget.document["spec"]["minAvailable"]) >= 1


def test_every_pod_of_ours_runs_non_root_on_a_read_only_root_filesystem() -> None:
    for container in containers():
        pod_context = container.pod.get("securityContext") or {}
        assert pod_context.get("runAsNonRoot") is True, container.where
        context = container.spec.get("securityContext") or {}
        assert context.get("readOnlyRootFilesystem") is True, container.where
        assert context.get("allowPrivilegeEscalation") is False, container.where
    for name, service in our_services().items():
        assert service.get("read_only") is True, f"compose service {name}"


def test_the_key_ring_is_mounted_from_a_secret_wherever_it_is_needed() -> None:
    for container in our_containers():
        path = container_env(container).get("REMEDIATION_KEY_FILE")
        if path is None:
            assert container.args[:2] == ["db", "migrate"], f"{container.where}: no key ring"
            continue
        directory, _, file = str(path).rpartition("/")
        (mount,) = [m for m in container.spec["volumeMounts"] if m["mountPath"] == directory]
        (volume,) = [v for v in container.pod["volumes"] if v["name"] == mount["name"]]
        secret = volume["secret"]["secretName"]
        assert file in secret_keys()[secret], f"{container.where}: Secret {secret} has no {file}"
    declared = _mapping(compose().get("secrets"), "compose secrets")
    for name, service in our_services().items():
        path = environment(service).get("REMEDIATION_KEY_FILE")
        if path is None:
            continue
        secret = path.removeprefix("/run/secrets/")
        assert secret in argv(service.get("secrets")), f"{name} does not mount secret {secret}"
        assert str(declared[secret]["file"]).startswith("./secrets/"), "git-ignored directory"


# --- tests: no secret is committed ---------------------------------------------------------------


def test_kubernetes_secrets_are_templates_with_placeholders() -> None:
    for secret in manifests_of("Secret"):
        assert secret.path.name.endswith(".template.yaml"), f"{secret.path.name} holds a Secret"
        assert "data" not in secret.document, f"{secret.name}: use stringData placeholders"
        for key, value in secret.document["stringData"].items():
            assert PLACEHOLDER in str(value), f"{secret.name}.{key} is not a placeholder"


def test_compose_takes_every_secret_from_the_environment_file() -> None:
    for name, service in services().items():
        for variable, value in environment(service).items():
            if SECRET_NAME.search(variable) and not variable.endswith("_FILE"):
                assert "${" in value, f"{name}: {variable} is written in compose.yaml"
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    for line in example.splitlines():
        if line and not line.startswith("#"):
            assert line.endswith(f"={PLACEHOLDER}"), f".env.example: {line}"
    ignored = (DEPLOY / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored and "secrets/" in ignored


def test_the_policy_configmap_is_the_policy_file() -> None:
    assert config_maps()["remediation-policy"]["policy.toml"] == POLICY_FILE.read_text(
        encoding="utf-8"
    )
    worker = deployment_container("worker")
    path = str(container_env(worker)["REMEDIATION_POLICY_FILE"])
    mounts = {m["mountPath"]: m["name"] for m in worker.spec["volumeMounts"]}
    (volume,) = [v for v in worker.pod["volumes"] if v["name"] == mounts[path.rpartition("/")[0]]]
    assert volume["configMap"]["name"] == "remediation-policy"


def test_every_temporal_server_refuses_updates_that_would_stall_an_incident() -> None:
    """The compose stack and the Helm values hold the in-flight update limit `up` and the tests
    give the dev server (an update near 2 MiB fails the workflow task that refuses it)."""
    [compose_config] = _load_yaml(DEPLOY / "temporal" / "dynamicconfig.yaml")
    [helm] = _load_yaml(K8S / "temporal-values.yaml")
    helm_config = helm["server"]["dynamicConfig"]
    for config in (compose_config, helm_config):
        assert config[IN_FLIGHT_UPDATES_KEY] == [{"value": IN_FLIGHT_UPDATES_MAX}]
    assert IN_FLIGHT_UPDATES_MAX < 2 * 1024 * 1024 - MESSAGE_MAX_BYTES
