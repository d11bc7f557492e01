"""The policy file: the default deadlines (docs/design.md, Deadlines), a TOML overlay,
environment overrides, one-line errors."""

import re
from datetime import timedelta
from pathlib import Path

import pytest

import workers.policy_file
from schemas.policy import MilestoneKind, Policy, default_deadlines
from schemas.vocabulary import Severity
from workers.errors import StartupError
from workers.policy_file import (
    describe_policy,
    format_duration,
    load_policy,
    parse_duration,
    policy_version,
)
from workers.settings import load_settings

NO_ENV: dict[str, str] = {}


def write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str, environ: dict[str, str] = NO_ENV) -> Policy:
    return load_policy(write(tmp_path, text), environ)


def without_version(policy: Policy) -> Policy:
    return policy.model_copy(update={"version": Policy().version})


def test_without_a_file_the_defaults_apply_with_a_computed_version() -> None:
    policy = load_policy(None, NO_ENV)
    assert without_version(policy) == Policy()
    assert re.fullmatch(r"sha256:[0-9a-f]{12}", policy.version)
    assert policy.version == policy_version(Policy())


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    assert load_text(tmp_path, "") == load_policy(None, NO_ENV)


def test_reminders_are_on_by_default_and_a_file_can_turn_them_off(tmp_path: Path) -> None:
    assert load_policy(None, NO_ENV).deadline_reminders is True
    assert load_text(tmp_path, "deadline_reminders = false").deadline_reminders is False
    with pytest.raises(StartupError, match="deadline_reminders"):
        load_text(tmp_path, 'deadline_reminders = "no"')


def test_a_partial_overlay_changes_only_what_it_names(tmp_path: Path) -> None:
    policy = load_text(
        tmp_path,
        """
        max_verification_rounds = 4
        [deadlines.verification]
        critical = "5d"
        [escalation]
        executive_sponsor = "cso"
        """,
    )
    defaults = Policy()
    assert policy.max_verification_rounds == 4
    assert policy.related_incident_window_days == defaults.related_incident_window_days
    verification = policy.deadlines[MilestoneKind.VERIFICATION]
    assert verification.critical == timedelta(days=5)
    default_verification = defaults.deadlines[MilestoneKind.VERIFICATION]
    assert verification.model_copy(update={"critical": default_verification.critical}) == (
        default_verification
    )
    others = {k: v for k, v in policy.deadlines.items() if k != MilestoneKind.VERIFICATION}
    assert others == {
        k: v for k, v in default_deadlines().items() if k != MilestoneKind.VERIFICATION
    }
    assert policy.escalation.executive_sponsor == "cso"
    assert policy.escalation.human_rights_lead == defaults.escalation.human_rights_lead
    assert policy.escalation.industry_programme_contact is None


def test_none_removes_a_milestone_at_that_severity(tmp_path: Path) -> None:
    policy = load_text(tmp_path, '[deadlines.check_in]\nlow = "none"\nmedium = "None"\n')
    assert policy.window(MilestoneKind.CHECK_IN, Severity.LOW) is None
    assert policy.window(MilestoneKind.CHECK_IN, Severity.MEDIUM) is None
    assert policy.window(MilestoneKind.CHECK_IN, Severity.HIGH) == timedelta(days=14)
    assert ("check_in", "7d", "14d", "—", "—") in describe_policy(policy)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5d", timedelta(days=5)),
        ("36h", timedelta(hours=36)),
        ("90m", timedelta(minutes=90)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1d 12h 30m", timedelta(days=1, hours=12, minutes=30)),
        ("2h30m", timedelta(hours=2, minutes=30)),
        (" 7d ", timedelta(days=7)),
        ("P5D", timedelta(days=5)),
        ("PT36H", timedelta(hours=36)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("PT90M", timedelta(minutes=90)),
        ("P2W", timedelta(weeks=2)),
        ("p3d", timedelta(days=3)),
    ],
)
def test_every_accepted_duration_form(tmp_path: Path, text: str, expected: timedelta) -> None:
    policy = load_text(tmp_path, f'[deadlines.approval]\nhigh = "{text}"\n')
    assert policy.window(MilestoneKind.APPROVAL, Severity.HIGH) == expected
    assert parse_duration(format_duration(expected)) == expected


def test_durations_are_formatted_compactly() -> None:
    assert format_duration(timedelta(days=7)) == "7d"
    assert format_duration(timedelta(hours=36)) == "36h"
    assert format_duration(timedelta(hours=1, minutes=30)) == "1h30m"
    assert format_duration(timedelta(minutes=45)) == "45m"
    assert format_duration(None) == "—"


def test_describe_policy_lists_every_milestone_with_a_window() -> None:
    rows = describe_policy(Policy())
    assert [row[0] for row in rows] == [kind.value for kind in default_deadlines()]
    assert rows[0] == ("acknowledge", "1d", "3d", "7d", "14d")
    assert rows[-1] == ("follow_up", "90d", "180d", "180d", "—")


@pytest.mark.parametrize(
    "overlay",
    [
        "max_verification_rounds = 4",
        "related_incident_window_days = 180",
        '[deadlines.acknowledge]\ncritical = "12h"',
        '[deadlines.follow_up]\nlow = "365d"',
        '[deadlines.closure]\nlow = "none"',
        '[escalation]\nhuman_rights_lead = "hr.lead"',
        '[escalation]\nindustry_programme_contact = "rmi.contact"',
    ],
)
def test_the_computed_version_changes_with_any_value(tmp_path: Path, overlay: str) -> None:
    default = load_policy(None, NO_ENV).version
    changed = load_text(tmp_path, overlay).version
    assert changed != default
    assert re.fullmatch(r"sha256:[0-9a-f]{12}", changed)
    assert load_text(tmp_path, overlay).version == changed


def test_every_change_gets_its_own_version(tmp_path: Path) -> None:
    versions = {
        load_text(tmp_path, f'[deadlines.response]\nhigh = "{days}d"').version
        for days in range(1, 30)
    }
    assert len(versions) == 29


def test_the_computed_version_is_stable_for_the_same_policy(tmp_path: Path) -> None:
    one_day = {
        load_text(tmp_path, f'[deadlines.approval]\ncritical = "{text}"').version
        for text in ("1d", "24h", "1440m", "P1D", "PT24H")
    }
    assert len(one_day) == 1
    restated = load_text(
        tmp_path,
        '[deadlines.follow_up]\ncritical = "90d"\nlow = "none"\n'
        '[escalation]\nexecutive_sponsor = "executive-sponsor"',
    )
    assert restated.version == load_policy(None, NO_ENV).version


def test_an_explicit_version_is_kept(tmp_path: Path) -> None:
    policy = load_text(tmp_path, 'version = "acme-2027-01"\nmax_verification_rounds = 4\n')
    assert policy.version == "acme-2027-01"
    assert policy.max_verification_rounds == 4


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    text = """
        version = "acme-2027-01"
        max_verification_rounds = 4
        [escalation]
        human_rights_lead = "hr.lead"
        executive_sponsor = "cso"
        industry_programme_contact = "rmi.contact"
    """
    environ = {
        "POLICY_VERSION": "acme-2027-02",
        "POLICY_MAX_VERIFICATION_ROUNDS": "5",
        "ESCALATION_HUMAN_RIGHTS_LEAD": "hr.deputy",
        "ESCALATION_EXECUTIVE_SPONSOR": "ceo",
        "ESCALATION_INDUSTRY_PROGRAMME_CONTACT": "programme.desk",
    }
    policy = load_text(tmp_path, text, environ)
    assert policy.version == "acme-2027-02"
    assert policy.max_verification_rounds == 5
    assert policy.escalation.human_rights_lead == "hr.deputy"
    assert policy.escalation.executive_sponsor == "ceo"
    assert policy.escalation.industry_programme_contact == "programme.desk"


def test_empty_variables_mean_unset(tmp_path: Path) -> None:
    environ = dict.fromkeys(("POLICY_VERSION", "POLICY_MAX_VERIFICATION_ROUNDS"), "")
    environ["ESCALATION_EXECUTIVE_SPONSOR"] = "  "
    text = 'max_verification_rounds = 4\n[escalation]\nexecutive_sponsor = "cso"\n'
    assert load_text(tmp_path, text, environ) == load_text(tmp_path, text)


def test_environment_overrides_change_the_computed_version(tmp_path: Path) -> None:
    default = load_policy(None, NO_ENV)
    overridden = load_policy(None, {"ESCALATION_EXECUTIVE_SPONSOR": "ceo"})
    assert overridden.escalation.executive_sponsor == "ceo"
    assert overridden.version != default.version
    assert overridden.version == policy_version(overridden)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max_verification_rounds = \n", "is not valid TOML: Invalid value (at line 1"),
        ("max_rounds = 4", "max_rounds is not a policy setting (known: version, deadlines,"),
        (
            '[deadlines.verfication]\ncritical = "5d"',
            "deadlines.verfication is not a milestone (known: acknowledge, immediate_protection,",
        ),
        ('[deadlines.action_due]\nhigh = "5d"', "deadlines.action_due cannot be set"),
        ('[deadlines.verification]\nurgent = "5d"', "deadlines.verification.urgent is not a sev"),
        (
            '[deadlines.verification]\ncritical = "5 days"',
            "deadlines.verification.critical: '5 days' is not a duration (use 5d, 36h, P5D)",
        ),
        ("[deadlines.verification]\ncritical = 5", "deadlines.verification.critical: 5 is not a"),
        ('[deadlines.verification]\nhigh = "P1M"', "deadlines.verification.high: 'P1M' is not a"),
        ('[deadlines.verification]\nhigh = "6M"', "deadlines.verification.high: '6M' is not a"),
        ('[deadlines.verification]\nhigh = "PT"', "deadlines.verification.high: 'PT' is not a"),
        ('[deadlines.verification]\nlow = ""', "deadlines.verification.low: '' is not a duration"),
        ('[deadlines.verification]\nlow = "0d"', "deadlines.verification.low: '0d' must be longer"),
        ('[deadlines.closure]\nlow = "99999d"', "deadlines.closure.low: '99999d' is longer than"),
        ("deadlines = 5", "deadlines must be a table of milestones"),
        ('deadlines.verification = "5d"', "deadlines.verification must be a table of severities"),
        ('escalation = "cso"', "escalation must be a table"),
        ('[escalation]\nlead = "x"', "escalation.lead is not an escalation contact (known: human"),
        (
            "max_verification_rounds = 11",
            "max_verification_rounds: Input should be less than or equal to 10",
        ),
        ('max_verification_rounds = "4"', "max_verification_rounds: Input should be a valid int"),
        ("max_verification_rounds = true", "max_verification_rounds: Input should be a valid int"),
        ("related_incident_window_days = 0", "related_incident_window_days: Input should be grea"),
        (
            '[escalation]\nexecutive_sponsor = "the board"',
            "escalation.executive_sponsor: String should match pattern",
        ),
        ("[escalation]\nhuman_rights_lead = 7", "escalation.human_rights_lead: Input should be a"),
        ('version = ""', "version: String should have at least 1 character"),
        ("version = 2027", "version: Input should be a valid string"),
    ],
)
def test_every_file_problem_is_one_line_naming_file_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(StartupError) as raised:
        load_policy(path, NO_ENV)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"policy file {path}")
    assert expected in message


def test_several_problems_share_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'max_rounds = 4\n[deadlines.verification]\ncritical = "soon"\n')
    with pytest.raises(StartupError) as raised:
        load_policy(path, NO_ENV)
    message = str(raised.value)
    assert "\n" not in message
    assert "max_rounds is not a policy setting" in message
    assert "deadlines.verification.critical: 'soon' is not a duration" in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(StartupError, match=r"^policy file .*absent\.toml does not exist$"):
        load_policy(path, NO_ENV)


def test_a_directory_is_not_a_policy_file(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match=r"is a directory"):
        load_policy(tmp_path, NO_ENV)


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b'version = "\xff"\n')
    with pytest.raises(StartupError, match=r"^policy file .*policy\.toml is not UTF-8 text$"):
        load_policy(path, NO_ENV)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("POLICY_MAX_VERIFICATION_ROUNDS", "many", "'many' is not a whole number"),
        ("POLICY_MAX_VERIFICATION_ROUNDS", "-1", "'-1' is not a whole number"),
        ("POLICY_MAX_VERIFICATION_ROUNDS", "20", "Input should be less than or equal to 10"),
        ("ESCALATION_EXECUTIVE_SPONSOR", "the board", "String should match pattern"),
        ("POLICY_VERSION", "v" * 65, "String should have at most 64 characters"),
    ],
)
def test_every_environment_problem_is_one_line_naming_the_variable(
    variable: str, value: str, expected: str
) -> None:
    with pytest.raises(StartupError) as raised:
        load_policy(None, {variable: value})
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"policy environment: {variable}: ")
    assert expected in message


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = workers.policy_file.__doc__ or ""
    example = re.search(r"```toml\n(.*?)```", doc, re.DOTALL)
    assert example is not None
    policy = load_text(tmp_path, example.group(1))
    assert policy.version == "acme-2027-01"
    assert policy.max_verification_rounds == 4
    assert policy.window(MilestoneKind.VERIFICATION, Severity.CRITICAL) == timedelta(days=5)
    assert policy.window(MilestoneKind.VERIFICATION, Severity.HIGH) == timedelta(days=21)
    assert policy.window(MilestoneKind.VERIFICATION, Severity.LOW) is None
    assert policy.window(MilestoneKind.ACKNOWLEDGE, Severity.HIGH) == timedelta(hours=36)
    assert policy.escalation.industry_programme_contact == "rmi.contact"


def test_the_settings_name_the_policy_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REMEDIATION_POLICY_FILE", raising=False)
    assert load_settings().policy_file is None
    monkeypatch.setenv("REMEDIATION_POLICY_FILE", "/etc/remediation/policy.toml")
    assert load_settings().policy_file == Path("/etc/remediation/policy.toml")
