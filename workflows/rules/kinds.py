"""What every decision kind is, in words: its summary, who may send it, when, and whether it
waits for an approver.

The registry (`workflows.rules.registry`) takes each rule's roles, `when` and approval mode from
here, and the command line's help (`remediation decide --help`) reads them here too. This module
imports nothing but the picklists, so the help is shown without loading pydantic, the models or
Temporal. `tests/test_decision_rules.py` checks each summary against its model's docstring.
"""

from dataclasses import dataclass
from enum import StrEnum

from schemas.vocabulary import DecisionKind, Role


class Approval(StrEnum):
    """Whether a decision takes effect when accepted or waits for an approver."""

    NONE = "none"
    ONE_AT_A_TIME = "one at a time"
    # Several may wait at once: one per milestone (extensions), one per victim (erasures).
    SEVERAL = "several at a time"


@dataclass(frozen=True)
class KindText:
    """One decision kind in words.

    - `summary`: what it does; its model's docstring begins with it;
    - `roles`: who may send it (any one of them, held on the incident);
    - `when`: when it may be sent, for the message contract and the help;
    - `approval`: whether it takes effect when accepted or once approved.
    """

    summary: str
    roles: frozenset[Role]
    when: str
    approval: Approval = Approval.NONE

    @property
    def needs_approval(self) -> bool:
        return self.approval != Approval.NONE


CASE_OWNER = frozenset({Role.CASE_OWNER})
APPROVER = frozenset({Role.APPROVER})

KINDS: dict[DecisionKind, KindText] = {
    DecisionKind.ACKNOWLEDGE: KindText(
        "The case owner accepts the case, confirming or correcting the provisional severity.",
        CASE_OWNER,
        "step 1, once",
    ),
    DecisionKind.IMMEDIATE_PROTECTION: KindText(
        "The referral made for someone in imminent danger, or why it could not be made.",
        CASE_OWNER,
        "someone in imminent danger, before verification",
    ),
    DecisionKind.VERIFICATION: KindText(
        "The verifier's finding on the allegation.",
        frozenset({Role.VERIFIER}),
        "step 1, after `acknowledge`",
    ),
    DecisionKind.RESPONSE: KindText(
        "The type and level of response (Step 2); needs approval.",
        CASE_OWNER,
        "step 2",
        Approval.ONE_AT_A_TIME,
    ),
    DecisionKind.ACTION_PLAN: KindText(
        "The remediation action plan (Step 3); needs approval.",
        CASE_OWNER,
        "step 3",
        Approval.ONE_AT_A_TIME,
    ),
    DecisionKind.CHECK_IN: KindText(
        "A monitoring check-in (Step 4).",
        frozenset({Role.CASE_OWNER, Role.IMPLEMENTING_PARTNER}),
        "step 4",
    ),
    DecisionKind.AMEND_PLAN: KindText(
        "Add, change or cancel actions (Step 4); needs approval.",
        CASE_OWNER,
        "step 4",
        Approval.ONE_AT_A_TIME,
    ),
    DecisionKind.CLOSURE: KindText(
        "Close the incident (Step 5); needs approval.",
        CASE_OWNER,
        "step 5",
        Approval.ONE_AT_A_TIME,
    ),
    DecisionKind.LESSONS_LEARNED: KindText("Lessons learned (Step 6).", CASE_OWNER, "step 6"),
    DecisionKind.FOLLOW_UP: KindText(
        "The post-closure follow-up: is the remedy sustained, has the harm recurred?",
        CASE_OWNER,
        "post-closure follow-up (after step 6)",
    ),
    DecisionKind.RECORD_VICTIM: KindText(
        "Register a victim under a pseudonymous id, with their personal data sealed under their "
        "own key",
        CASE_OWNER,
        "until completed; personal data sealed under the victim's key",
    ),
    DecisionKind.RECORD_CONSENT: KindText(
        "Record (or renew) one victim's informed consent outside the plan.",
        CASE_OWNER,
        "until completed",
    ),
    DecisionKind.WITHDRAW_CONSENT: KindText(
        "A victim withdraws consent; from now on nothing relying on it may happen.",
        CASE_OWNER,
        "until completed",
    ),
    DecisionKind.SHARE_VICTIM_DATA: KindText(
        "Share a victim's data with a partner or the authorities: allowed only under their "
        "recorded consent for that purpose",
        CASE_OWNER,
        "with the victim's consent for that recipient",
    ),
    DecisionKind.BEST_INTERESTS: KindText(
        "A child's best-interests assessment, recorded before any action concerning them.",
        CASE_OWNER,
        "a child's, before any action concerning them",
    ),
    DecisionKind.ERASE_VICTIM: KindText(
        "Erase a victim's personal data everywhere by destroying their data key; needs approval.",
        CASE_OWNER,
        "until completed",
        Approval.SEVERAL,
    ),
    DecisionKind.APPROVE: KindText(
        "Approve a pending approval.", APPROVER, "while an approval is pending"
    ),
    DecisionKind.REJECT: KindText(
        "Reject a pending approval; it returns to its author with the comments.",
        APPROVER,
        "while an approval is pending",
    ),
    DecisionKind.REASSIGN: KindText(
        "Hand the case to another case owner.",
        frozenset({Role.CASE_OWNER, Role.EXECUTIVE}),
        "any step",
    ),
    DecisionKind.EXTEND_DEADLINE: KindText(
        "Move one milestone's deadline; needs approval.",
        CASE_OWNER,
        "any open milestone",
        Approval.SEVERAL,
    ),
    DecisionKind.CLOSE_EARLY: KindText(
        "Close the incident before the process ends; needs approval.",
        CASE_OWNER,
        "steps 1 to 4",
        Approval.ONE_AT_A_TIME,
    ),
}

_ROLE_NAMES = {
    Role.CASE_OWNER: "case owner",
    Role.VERIFIER: "verifier",
    Role.APPROVER: "approver, never the item's author",
    Role.EXECUTIVE: "executive",
    Role.IMPLEMENTING_PARTNER: "partner for own actions",
}


def who_may_send(kind: DecisionKind) -> str:
    """Who may send a decision, in words, as the message contract states it."""
    text = KINDS[kind]
    names = [_ROLE_NAMES[role] for role in sorted(text.roles, key=list(_ROLE_NAMES).index)]
    who = " or ".join(names)
    return f"{who} — needs approval" if text.needs_approval else who
