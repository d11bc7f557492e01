"""Triage, assessed severity and the proposed response level.

See docs/design.md, Severity and response level.
"""

from typing import Any

import pytest

from schemas.decisions import Verification
from schemas.intake import Intake
from schemas.vocabulary import ResponseLevel, Severity
from workers.devstack import examples
from workflows.severity import (
    assessed_severity,
    at_least,
    proposed_response_level,
    provisional_severity,
    raised,
)

LOW, MEDIUM, HIGH, CRITICAL = Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL

# An allegation with nothing that raises its severity: a non-grave harm, few people, no
# children, no migrants, nobody in danger.
PLAIN: dict[str, Any] = {
    "alleged_harms": ["forced_labour"],
    "affected_persons_estimate": 12,
    "children_affected": False,
    "migrants_affected": False,
    "imminent_danger": False,
}


def intake(**changes: Any) -> Intake:
    return Intake.model_validate(examples.intake(**{**PLAIN, **changes}))


def verification(outcome: str = "substantiated", **changes: Any) -> Verification:
    """A verification whose affected persons are adults only (no vulnerability) unless changed."""
    payload = examples.verification(outcome, **{"affected_persons": {"adults": 12}, **changes})
    return Verification.model_validate(payload)


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.mark.parametrize(
    ("severity", "floor", "expected"),
    [
        (LOW, HIGH, HIGH),
        (MEDIUM, HIGH, HIGH),
        (HIGH, HIGH, HIGH),
        (CRITICAL, HIGH, CRITICAL),
        (CRITICAL, LOW, CRITICAL),
        (LOW, LOW, LOW),
    ],
)
def test_at_least_never_lowers(severity: Severity, floor: Severity, expected: Severity) -> None:
    assert at_least(severity, floor) == expected


@pytest.mark.parametrize(
    ("severity", "levels", "expected"),
    [
        (LOW, 1, MEDIUM),
        (MEDIUM, 1, HIGH),
        (HIGH, 1, CRITICAL),
        (CRITICAL, 1, CRITICAL),
        (LOW, 2, HIGH),
        (MEDIUM, 3, CRITICAL),
    ],
)
def test_raised_is_capped_at_critical(severity: Severity, levels: int, expected: Severity) -> None:
    assert raised(severity, levels) == expected


# ---------------------------------------------------------------------------------------------
# triage at intake


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({}, LOW, id="plain-allegation"),
        pytest.param({"migrants_affected": True}, MEDIUM, id="migrants"),
        pytest.param({"alleged_harms": ["debt_bondage"]}, MEDIUM, id="grave-harm"),
        pytest.param({"alleged_harms": ["human_trafficking"]}, MEDIUM, id="trafficking"),
        pytest.param({"alleged_harms": ["sexual_exploitation"]}, MEDIUM, id="sexual-exploit"),
        pytest.param(
            {"alleged_harms": ["worst_forms_of_child_labour"]}, MEDIUM, id="worst-child-labour"
        ),
        pytest.param({"affected_persons_estimate": 49}, LOW, id="49-affected-not-many"),
        pytest.param({"affected_persons_estimate": 50}, MEDIUM, id="50-affected-raises"),
        pytest.param(
            {"alleged_harms": ["debt_bondage"], "affected_persons_estimate": 500},
            HIGH,
            id="grave-harm-and-many",
        ),
        pytest.param({"children_affected": True}, HIGH, id="children-at-least-high"),
        pytest.param({"imminent_danger": True}, HIGH, id="danger-at-least-high"),
        pytest.param(
            {"children_affected": True, "alleged_harms": ["debt_bondage"]},
            HIGH,
            id="children-and-grave-harm-without-danger",
        ),
        pytest.param(
            {
                "children_affected": True,
                "affected_persons_estimate": 1000,
                "migrants_affected": True,
            },
            HIGH,
            id="children-many-migrants-without-danger",
        ),
        pytest.param(
            {"imminent_danger": True, "affected_persons_estimate": 200},
            HIGH,
            id="danger-and-many-without-grave-harm",
        ),
        pytest.param(
            {"imminent_danger": True, "children_affected": True}, CRITICAL, id="danger-children"
        ),
        pytest.param(
            {"imminent_danger": True, "alleged_harms": ["human_trafficking"]},
            CRITICAL,
            id="danger-trafficking",
        ),
        pytest.param(
            {"imminent_danger": True, "alleged_harms": ["forced_labour", "debt_bondage"]},
            CRITICAL,
            id="danger-debt-bondage",
        ),
        pytest.param(
            {"imminent_danger": True, "alleged_harms": ["hazardous_child_labour"]},
            HIGH,
            id="danger-non-grave-harm",
        ),
    ],
)
def test_provisional_severity(changes: dict[str, Any], expected: Severity) -> None:
    assert provisional_severity(intake(**changes)) == expected


def test_the_example_intake_is_medium() -> None:
    """The shared example (debt bondage, migrants) triages as medium: acknowledging it with
    `examples.acknowledge("medium")` confirms rather than corrects."""
    assert provisional_severity(Intake.model_validate(examples.intake())) == MEDIUM


# ---------------------------------------------------------------------------------------------
# assessed severity after verification


@pytest.mark.parametrize(
    ("scale", "scope", "irremediability", "expected"),
    [
        (1, 1, 1, LOW),
        (2, 1, 1, LOW),
        (2, 2, 1, MEDIUM),
        (3, 2, 2, MEDIUM),
        (3, 3, 1, MEDIUM),
        (3, 3, 2, HIGH),
        (3, 3, 3, HIGH),
        (4, 3, 3, CRITICAL),
        (4, 4, 3, CRITICAL),
        (4, 4, 4, CRITICAL),
        # Irremediability 4 is at least high whatever the sum.
        (1, 1, 4, HIGH),
        (2, 2, 4, HIGH),
        (3, 2, 4, HIGH),
        (3, 3, 4, CRITICAL),
    ],
)
def test_assessed_severity_bands(
    scale: int, scope: int, irremediability: int, expected: Severity
) -> None:
    found = verification(scale=scale, scope=scope, irremediability=irremediability)
    assert assessed_severity(found) == expected


VULNERABILITIES: dict[str, dict[str, Any]] = {
    "children": {"affected_persons": {"adults": 3, "children": 2}},
    "migrants": {"affected_persons": {"adults": 3, "migrants": 3}},
    "trafficked": {"affected_persons": {"adults": 3, "trafficked": 1}},
    "trafficking-confirmed": {"harms_confirmed": ["human_trafficking"]},
}


@pytest.mark.parametrize("vulnerability", sorted(VULNERABILITIES))
@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ((1, 1, 1), MEDIUM),
        ((2, 2, 1), HIGH),
        ((3, 3, 2), CRITICAL),
        ((1, 1, 4), CRITICAL),
        ((4, 4, 4), CRITICAL),
    ],
)
def test_vulnerability_raises_one_level_capped_at_critical(
    vulnerability: str, scores: tuple[int, int, int], expected: Severity
) -> None:
    scale, scope, irremediability = scores
    found = verification(
        scale=scale, scope=scope, irremediability=irremediability, **VULNERABILITIES[vulnerability]
    )
    assert assessed_severity(found) == expected


def test_several_vulnerabilities_raise_only_one_level() -> None:
    found = verification(
        scale=1,
        scope=1,
        irremediability=1,
        affected_persons={"adults": 3, "children": 2, "migrants": 3, "trafficked": 1},
        harms_confirmed=["human_trafficking"],
    )
    assert assessed_severity(found) == MEDIUM


def test_women_alone_do_not_raise_severity() -> None:
    found = verification(
        scale=2, scope=2, irremediability=1, affected_persons={"adults": 5, "women": 5}
    )
    assert assessed_severity(found) == MEDIUM


# ---------------------------------------------------------------------------------------------
# proposed response level


@pytest.mark.parametrize(
    ("outcome", "changes", "severity", "danger", "expected"),
    [
        # Not substantiated or no link: monitor, whatever else is true.
        pytest.param(
            "not_substantiated", {}, CRITICAL, True, ResponseLevel.MONITOR, id="not-substantiated"
        ),
        pytest.param(
            "substantiated",
            {"relationship": "no_link", "affected_persons": {"adults": 1, "children": 3}},
            CRITICAL,
            True,
            ResponseLevel.MONITOR,
            id="no-link",
        ),
        pytest.param(
            "partially_substantiated",
            {"relationship": "no_link"},
            LOW,
            False,
            ResponseLevel.MONITOR,
            id="partially-no-link",
        ),
        # Critical, children, trafficking or imminent danger: collective and urgent.
        pytest.param(
            "substantiated",
            {"relationship": "directly_linked"},
            CRITICAL,
            False,
            ResponseLevel.COLLECTIVE_URGENT,
            id="critical",
        ),
        pytest.param(
            "substantiated",
            {"relationship": "directly_linked", "affected_persons": {"adults": 1, "children": 1}},
            LOW,
            False,
            ResponseLevel.COLLECTIVE_URGENT,
            id="children",
        ),
        pytest.param(
            "substantiated",
            {"relationship": "directly_linked", "affected_persons": {"trafficked": 2}},
            LOW,
            False,
            ResponseLevel.COLLECTIVE_URGENT,
            id="trafficked-persons",
        ),
        pytest.param(
            "partially_substantiated",
            {"relationship": "directly_linked", "harms_confirmed": ["human_trafficking"]},
            MEDIUM,
            False,
            ResponseLevel.COLLECTIVE_URGENT,
            id="trafficking-confirmed",
        ),
        pytest.param(
            "substantiated",
            {"relationship": "directly_linked"},
            LOW,
            True,
            ResponseLevel.COLLECTIVE_URGENT,
            id="imminent-danger",
        ),
        pytest.param(
            "substantiated",
            {"relationship": "cause"},
            CRITICAL,
            False,
            ResponseLevel.COLLECTIVE_URGENT,
            id="cause-but-critical",
        ),
        # Cause or contribute: the company leads.
        pytest.param(
            "substantiated",
            {"relationship": "cause"},
            LOW,
            False,
            ResponseLevel.COMPANY_LED,
            id="cause-low",
        ),
        pytest.param(
            "substantiated",
            {"relationship": "contribute"},
            MEDIUM,
            False,
            ResponseLevel.COMPANY_LED,
            id="contribute-medium",
        ),
        pytest.param(
            "partially_substantiated",
            {"relationship": "contribute"},
            HIGH,
            False,
            ResponseLevel.COMPANY_LED,
            id="contribute-high",
        ),
        # Directly linked: supplier's corrective action at lower severity, company-led at high.
        pytest.param(
            "substantiated",
            {"relationship": "directly_linked"},
            HIGH,
            False,
            ResponseLevel.COMPANY_LED,
            id="directly-linked-high",
        ),
        pytest.param(
            "substantiated",
            {"relationship": "directly_linked"},
            MEDIUM,
            False,
            ResponseLevel.SUPPLIER_CORRECTIVE,
            id="directly-linked-medium",
        ),
        pytest.param(
            "substantiated",
            {"relationship": "directly_linked"},
            LOW,
            False,
            ResponseLevel.SUPPLIER_CORRECTIVE,
            id="directly-linked-low",
        ),
        pytest.param(
            "substantiated",
            {"relationship": "directly_linked", "affected_persons": {"adults": 4, "migrants": 4}},
            MEDIUM,
            False,
            ResponseLevel.SUPPLIER_CORRECTIVE,
            id="directly-linked-migrants-medium",
        ),
    ],
)
def test_proposed_response_level(
    outcome: str,
    changes: dict[str, Any],
    severity: Severity,
    danger: bool,
    expected: ResponseLevel,
) -> None:
    found = verification(outcome, **changes)
    assert proposed_response_level(found, severity, danger) == expected


def test_proposal_follows_the_assessed_severity() -> None:
    """End to end through both rules: a directly-linked finding becomes company-led once
    vulnerable migrants raise its severity to high."""
    plain = verification(relationship="directly_linked", scale=2, scope=2, irremediability=2)
    with_migrants = verification(
        relationship="directly_linked",
        scale=2,
        scope=2,
        irremediability=2,
        affected_persons={"adults": 6, "migrants": 6},
    )
    assert proposed_response_level(plain, assessed_severity(plain), False) == (
        ResponseLevel.SUPPLIER_CORRECTIVE
    )
    assert assessed_severity(with_migrants) == HIGH
    assert proposed_response_level(with_migrants, HIGH, False) == ResponseLevel.COMPANY_LED
