"""Triage, severity and the proposed response level: pure, table-driven rules.

The rules are stated in docs/design.md, Severity and response level.
"""

from schemas.decisions import Verification
from schemas.intake import Intake
from schemas.vocabulary import (
    SEVERITY_ORDER,
    HarmType,
    Relationship,
    ResponseLevel,
    Severity,
    VerificationOutcome,
)

# Harms that on their own make an allegation at least high severity.
GRAVE_HARMS = frozenset(
    {
        HarmType.HUMAN_TRAFFICKING,
        HarmType.WORST_FORMS_OF_CHILD_LABOUR,
        HarmType.SEXUAL_EXPLOITATION,
        HarmType.DEBT_BONDAGE,
    }
)

# Sum of scale + scope + irremediability (each 1-4) to the severity it indicates.
_SCORE_BANDS: tuple[tuple[int, Severity], ...] = (
    (4, Severity.LOW),
    (7, Severity.MEDIUM),
    (9, Severity.HIGH),
    (12, Severity.CRITICAL),
)

# Many people affected raises a provisional severity one level.
MANY_AFFECTED = 50


def at_least(severity: Severity, floor: Severity) -> Severity:
    return max(severity, floor, key=SEVERITY_ORDER.index)


def raised(severity: Severity, levels: int = 1) -> Severity:
    position = min(SEVERITY_ORDER.index(severity) + levels, len(SEVERITY_ORDER) - 1)
    return SEVERITY_ORDER[position]


def provisional_severity(intake: Intake) -> Severity:
    """Triage at intake: children or imminent danger ⇒ at least high; both, or danger with a
    grave harm ⇒ critical."""
    harms = set(intake.alleged_harms)
    severity = Severity.MEDIUM if harms & GRAVE_HARMS or intake.migrants_affected else Severity.LOW
    if intake.affected_persons_estimate >= MANY_AFFECTED:
        severity = raised(severity)
    if intake.children_affected or intake.imminent_danger:
        severity = at_least(severity, Severity.HIGH)
    if intake.imminent_danger and (intake.children_affected or harms & GRAVE_HARMS):
        severity = Severity.CRITICAL
    return severity


def assessed_severity(verification: Verification) -> Severity:
    """Severity from scale, scope and irremediability, raised one level by vulnerability."""
    score = verification.scale + verification.scope + verification.irremediability
    severity = next(band for limit, band in _SCORE_BANDS if score <= limit)
    if verification.irremediability == 4:
        severity = at_least(severity, Severity.HIGH)
    persons = verification.affected_persons
    vulnerable = (
        persons.children > 0
        or persons.trafficked > 0
        or persons.migrants > 0
        or HarmType.HUMAN_TRAFFICKING in verification.harms_confirmed
    )
    return raised(severity) if vulnerable else severity


def proposed_response_level(
    verification: Verification, severity: Severity, imminent_danger: bool
) -> ResponseLevel:
    """The level follows the relationship to the harm, severity and vulnerability (docs/design.md,
    Severity and response level)."""
    if (
        verification.outcome == VerificationOutcome.NOT_SUBSTANTIATED
        or verification.relationship == Relationship.NO_LINK
    ):
        return ResponseLevel.MONITOR
    persons = verification.affected_persons
    if (
        severity == Severity.CRITICAL
        or persons.children > 0
        or persons.trafficked > 0
        or HarmType.HUMAN_TRAFFICKING in verification.harms_confirmed
        or imminent_danger
    ):
        return ResponseLevel.COLLECTIVE_URGENT
    if verification.relationship in (Relationship.CAUSE, Relationship.CONTRIBUTE):
        return ResponseLevel.COMPANY_LED
    if severity == Severity.HIGH:
        return ResponseLevel.COMPANY_LED
    return ResponseLevel.SUPPLIER_CORRECTIVE
