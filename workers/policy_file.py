"""The deployment's policy: the defaults of docs/design.md (Deadlines, Escalation ladder),
overlaid by a TOML file and the environment.

The policy is handed to each incident's workflow when the incident opens and is stamped with its
version, so a change here affects new incidents only.

File format (every key is optional; what the file does not name keeps its default, per milestone
and per severity):

```toml
version = "acme-2027-01"
max_verification_rounds = 4
related_incident_window_days = 365
deadline_reminders = true

[deadlines.verification]
critical = "5d"
high = "P21D"
low = "none"

[deadlines.acknowledge]
critical = "12h"
high = "1d12h"
medium = "PT36H"

[escalation]
human_rights_lead = "hr.lead"
executive_sponsor = "cso"
industry_programme_contact = "rmi.contact"

[roles]
verifier = ["verifier.kofi", "verifier.lena"]
approver = ["approver.sofia"]
executive = ["cso"]
case_owner = ["owner.amara", "owner.jon"]
```

- The top-level settings are those of `schemas.policy.Policy`, with its limits (for example
  `max_verification_rounds` 1-10, `related_incident_window_days` 1-3650); TOML types count, so
  `max_verification_rounds = "4"` is refused.
- `version` is optional. When no version is given, the version is `sha256:<12 hex>` of the
  effective policy, so any change to the policy gets a new version.
- `[deadlines.<milestone>]` takes any milestone kind except `action_due` (an action's due date
  comes from its plan) and any subset of `critical`, `high`, `medium`, `low`.
- `[roles]` lists who holds each organisation-wide role (`case_owner`, `verifier`, `approver`,
  `executive`). A role that is not listed is unrestricted: anyone claiming it holds it, which
  suits development only. Case owners of an assigned case and implementing partners come from
  the incident itself.
- Durations are strings: `"<n>d"`, `"<n>h"`, `"<n>m"` (minutes, lower case so it is never read
  as months) and combinations such as `"1d12h"`, or ISO 8601 weeks, days and times such as
  `"P5D"`, `"PT36H"`, `"P1DT12H"` (no years or months). A duration is longer than zero and at
  most 3650 days. `"none"` removes the milestone at that severity.

The environment overrides the file: `POLICY_VERSION`, `POLICY_MAX_VERIFICATION_ROUNDS`,
`ESCALATION_HUMAN_RIGHTS_LEAD`, `ESCALATION_EXECUTIVE_SPONSOR` and
`ESCALATION_INDUSTRY_PROGRAMME_CONTACT`; an empty variable counts as unset.

Every problem is reported as one line in a `StartupError` that names the file (or the variable)
and the setting.
"""

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.policy import EscalationContacts, MilestoneKind, PerSeverity, Policy, default_deadlines
from workers.errors import StartupError

# Action due dates come from each action's plan; a window for them would be ignored.
_NOT_CONFIGURABLE = {MilestoneKind.ACTION_DUE: "each action's due date comes from its plan"}
_MILESTONES = [kind for kind in MilestoneKind if kind not in _NOT_CONFIGURABLE]
_SEVERITIES = list(PerSeverity.model_fields)
_CONTACTS = list(EscalationContacts.model_fields)
_SETTINGS = list(Policy.model_fields)

_ENV_OVERRIDES: dict[tuple[str, ...], str] = {
    ("version",): "POLICY_VERSION",
    ("max_verification_rounds",): "POLICY_MAX_VERIFICATION_ROUNDS",
    ("escalation", "human_rights_lead"): "ESCALATION_HUMAN_RIGHTS_LEAD",
    ("escalation", "executive_sponsor"): "ESCALATION_EXECUTIVE_SPONSOR",
    ("escalation", "industry_programme_contact"): "ESCALATION_INDUSTRY_PROGRAMME_CONTACT",
}

_LONGEST = timedelta(days=3650)
_COMPACT = re.compile(
    # Lower case only, so "6M" is not mistaken for six months.
    r"(?:(?P<d>\d+)d)?\s*(?:(?P<h>\d+)h)?\s*(?:(?P<m>\d+)m)?\s*(?:(?P<s>\d+)s)?"
)
_ISO = re.compile(
    r"P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_HINT = "(use 5d, 36h, P5D)"


def parse_duration(value: object) -> timedelta | None:
    """A duration as the policy file writes it; None for "none". ValueError says what is wrong."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration; write it as a string {_HINT}")
    text = value.strip()
    if text.lower() == "none":
        return None
    match = _ISO.fullmatch(text) or _COMPACT.fullmatch(text)
    numbers = {} if match is None else match.groupdict()
    if not any(numbers.values()):
        raise ValueError(f"'{value}' is not a duration {_HINT}")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for unit, n in numbers.items() if n)
    if seconds == 0:
        raise ValueError(f"'{value}' must be longer than zero")
    if seconds > _LONGEST.total_seconds():
        raise ValueError(f"'{value}' is longer than {_LONGEST.days} days")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta | None) -> str:
    """Compact form that parse_duration reads back: "7d", "36h", "1h30m"; "—" for none."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "m"), (seconds, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n)


def policy_version(policy: Policy) -> str:
    """`sha256:<12 hex>` over the canonical JSON of everything but the version itself."""
    canonical = json.dumps(
        policy.model_dump(mode="json", exclude={"version"}),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:12]


def load_policy(path: Path | None, environ: Mapping[str, str] = os.environ) -> Policy:
    """The effective policy: defaults, then the file at `path` if given, then the environment."""
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_file(path)
        policy = _validate(data, f"policy file {path}", {})
    else:
        policy = Policy()
    explicit_version = "version" in data

    overrides = _environment(environ)
    if overrides:
        merged = policy.model_dump()
        for loc, value in overrides.items():
            target = merged
            for part in loc[:-1]:
                target = target[part]
            target[loc[-1]] = value
        policy = _validate(merged, "policy environment", _ENV_OVERRIDES)
        explicit_version = explicit_version or ("version",) in overrides

    if explicit_version:
        return policy
    return policy.model_copy(update={"version": policy_version(policy)})


def describe_policy(policy: Policy) -> list[tuple[str, str, str, str, str]]:
    """One row per milestone with a window: (milestone, critical, high, medium, low)."""
    return [
        (
            kind.value,
            format_duration(per_severity.critical),
            format_duration(per_severity.high),
            format_duration(per_severity.medium),
            format_duration(per_severity.low),
        )
        for kind in MilestoneKind
        if (per_severity := policy.deadlines.get(kind)) is not None
    ]


def _read_file(path: Path) -> dict[str, Any]:
    where = f"policy file {path}"
    try:
        with path.open("rb") as file:
            raw = tomllib.load(file)
    except FileNotFoundError:
        raise StartupError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise StartupError(f"{where} is a directory, not a TOML file") from None
    except OSError as error:
        raise StartupError(f"{where} cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise StartupError(f"{where} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise StartupError(f"{where} is not valid TOML: {error}") from None

    problems: list[str] = []
    data: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _SETTINGS:
            problems.append(f"{key} is not a policy setting (known: {', '.join(_SETTINGS)})")
        elif key == "deadlines":
            data[key] = _deadlines(value, problems)
        elif key == "escalation":
            data[key] = _escalation(value, problems)
        else:
            data[key] = value
    if problems:
        raise StartupError(f"{where}: " + "; ".join(problems))
    return data


def _deadlines(value: object, problems: list[str]) -> dict[MilestoneKind, PerSeverity]:
    deadlines = default_deadlines()
    if not isinstance(value, dict):
        problems.append("deadlines must be a table of milestones, e.g. [deadlines.verification]")
        return deadlines
    for name, severities in value.items():
        field = f"deadlines.{name}"
        try:
            kind = MilestoneKind(name)
        except ValueError:
            known = ", ".join(kind.value for kind in _MILESTONES)
            problems.append(f"{field} is not a milestone (known: {known})")
            continue
        if kind in _NOT_CONFIGURABLE:
            problems.append(f"{field} cannot be set: {_NOT_CONFIGURABLE[kind]}")
            continue
        if not isinstance(severities, dict):
            problems.append(f'{field} must be a table of severities, e.g. critical = "7d"')
            continue
        update: dict[str, timedelta | None] = {}
        for severity, text in severities.items():
            if severity not in _SEVERITIES:
                known = ", ".join(_SEVERITIES)
                problems.append(f"{field}.{severity} is not a severity (known: {known})")
                continue
            try:
                update[severity] = parse_duration(text)
            except ValueError as error:
                problems.append(f"{field}.{severity}: {error}")
        deadlines[kind] = deadlines[kind].model_copy(update=update)
    return deadlines


def _escalation(value: object, problems: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        problems.append('escalation must be a table, e.g. [escalation] executive_sponsor = "cso"')
        return {}
    for name in value:
        if name not in _CONTACTS:
            known = ", ".join(_CONTACTS)
            problems.append(f"escalation.{name} is not an escalation contact (known: {known})")
    return {name: contact for name, contact in value.items() if name in _CONTACTS}


def _environment(environ: Mapping[str, str]) -> dict[tuple[str, ...], Any]:
    overrides: dict[tuple[str, ...], Any] = {}
    for loc, variable in _ENV_OVERRIDES.items():
        text = environ.get(variable, "").strip()
        if not text:
            continue
        if loc == ("max_verification_rounds",):
            if not text.isdigit() or not text.isascii():
                raise StartupError(
                    f"policy environment: {variable}: '{text}' is not a whole number"
                )
            overrides[loc] = int(text)
        else:
            overrides[loc] = text
    return overrides


def _validate(data: dict[str, Any], where: str, labels: Mapping[tuple[str, ...], str]) -> Policy:
    """Strict, so TOML's types count: `max_verification_rounds = "4"` or `= true` is refused."""
    try:
        return Policy.model_validate(data, strict=True)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            loc = tuple(str(part) for part in item["loc"])
            field = labels.get(loc) or ".".join(loc) or "policy"
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{field}: {message}")
        raise StartupError(f"{where}: " + "; ".join(problems)) from None
