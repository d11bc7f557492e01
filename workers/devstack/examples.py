"""Valid, clearly fictional payloads for every message, as an integrator would send them (JSON).

Tests change one field at a time to prove each rule; the demo seeds incidents from the same shapes.

One clock, in UTC: the payloads that carry a time or a date take `now` (default: the current UTC
time), and their dates are the UTC dates of that instant, whatever the machine's time zone. The
rule tests pass one fixed `now`, so they hold at any time of day.
"""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

CASE_OWNER = {"id": "owner.amara", "roles": ["case_owner"]}
SECOND_OWNER = {"id": "owner.lucas", "roles": ["case_owner"]}
VERIFIER = {"id": "verifier.kenji", "roles": ["verifier"]}
APPROVER = {"id": "approver.sofia", "roles": ["approver"]}
EXECUTIVE = {"id": "exec.rahel", "roles": ["executive"]}
PARTNER = {"id": "partner.ngo-horizon", "roles": ["implementing_partner"]}
INTEGRATION = {"id": "grievance-platform", "roles": ["integration"]}


def _at(now: datetime | None) -> datetime:
    """`now`, or the current time; in UTC either way."""
    return (now if now is not None else datetime.now(UTC)).astimezone(UTC)


def _today(now: datetime | None) -> date:
    """The UTC date of `now` (never the machine's local date)."""
    return _at(now).date()


def intake(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "external_reference": f"GRV-{uuid.uuid4().hex[:10]}",
        "received_at": datetime(2026, 11, 20, 9, 30, tzinfo=UTC).isoformat(),
        "channel": "worker_hotline",
        "reporter": {"anonymous": True, "contact": "hotline callback 4471"},
        "description": "Fictional: workers at an artisanal tin site report unpaid wages and "
        "confiscated identity documents.",
        "location": {
            "country": "CD",
            "region": "Fictional Province",
            "site_name": "Example Hill",
            "site_type": "artisanal_small_scale",
        },
        "minerals": ["tin"],
        "tier": "mine_site",
        "facility_ids": ["CID009999"],
        "suppliers": ["Example Trading Ltd"],
        "alleged_harms": ["forced_labour", "debt_bondage"],
        "affected_persons_estimate": 12,
        "children_affected": False,
        "migrants_affected": True,
        "women_affected": False,
        "imminent_danger": False,
        "opened_by": INTEGRATION,
    }
    payload.update(changes)
    return payload


def acknowledge(severity: str = "medium", **changes: Any) -> dict[str, Any]:
    return {"actor": CASE_OWNER, "severity": severity, **changes}


def immediate_protection(*, now: datetime | None = None, **changes: Any) -> dict[str, Any]:
    return {
        "actor": CASE_OWNER,
        "referral_made": True,
        "partner": "Fictional Shelter Network",
        "arrangements": "Safe accommodation for two nights and medical check.",
        "arranged_at": _at(now).isoformat(),
        **changes,
    }


def verification(outcome: str = "substantiated", **changes: Any) -> dict[str, Any]:
    substantiated = outcome in ("substantiated", "partially_substantiated")
    payload: dict[str, Any] = {
        "actor": VERIFIER,
        "outcome": outcome,
        "methods": ["desk_review", "interviews_with_consent"],
        "corroborating_sources": 2,
        "harms_confirmed": ["forced_labour"] if substantiated else [],
        "forced_labour_indicators": ["withholding_of_wages", "retention_of_identity_documents"]
        if substantiated
        else [],
        "affected_persons": {"adults": 12, "migrants": 5},
        "relationship": "contribute",
        "facility_in_supply_chain": True,
        "scale": 3,
        "scope": 2,
        "irremediability": 2,
        "do_no_harm_notes": "Interviews off-site; no names shared with the supplier.",
        "summary": "Fictional finding: wages withheld for three months.",
    }
    if outcome == "inconclusive":
        payload["information_needed"] = "Payroll records from the trader."
    payload.update(changes)
    return payload


def response(level: str, **changes: Any) -> dict[str, Any]:
    return {
        "actor": CASE_OWNER,
        "level": level,
        "leverage": "medium",
        "leverage_plan": "Purchase commitments conditional on the corrective plan.",
        "immediate_protection_needed": False,
        "authorities": {"inform": False},
        "business_relationship": "continue_with_mitigation",
        **changes,
    }


def future(days: int, *, now: datetime | None = None) -> str:
    """The UTC date `days` after `now`."""
    return (_today(now) + timedelta(days=days)).isoformat()


def action(action_id: str = "A1", *, now: datetime | None = None, **changes: Any) -> dict[str, Any]:
    return {
        "action_id": action_id,
        "category": "remedy",
        "remedy_type": "restitution",
        "description": "Repay withheld wages in full.",
        "beneficiaries": ["V-0001", "V-0002"],
        "uses_victim_data": True,
        "responsible_party": "supplier",
        "implementing_partner": PARTNER["id"],
        "due_date": future(60, now=now),
        "budget": {"amount": "4200.00", "currency": "USD", "funded_by": ["supplier", "company"]},
        "success_indicators": ["Each worker confirms receipt."],
        "completion_verification": "Partner checks receipts with each worker.",
        **changes,
    }


def consent(victim_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    return {
        "victim_id": victim_id,
        "to_receive_services": True,
        "share_data_with": [PARTNER["id"]],
        "recorded_at": _at(now).isoformat(),
    }


def action_plan(
    actions: list[dict[str, Any]] | None = None, *, now: datetime | None = None, **changes: Any
) -> dict[str, Any]:
    return {
        "actor": CASE_OWNER,
        "objectives": ["Restore withheld wages", "Return identity documents"],
        "victim_consultation": "Two group meetings with worker representatives.",
        "consents": [consent("V-0001", now=now), consent("V-0002", now=now)],
        "actions": actions
        if actions is not None
        else [action(id_, now=now) for id_ in ("A1", "A2")],
        **changes,
    }


def progress(action_id: str, status: str = "in_progress", **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "action_id": action_id,
        "status": status,
        "progress_percent": 100 if status == "completed" else 40,
        "spend_to_date": "1000.00",
    }
    if status == "completed":
        payload["completion"] = {"verified_by": PARTNER["id"], "how": "Signed receipts."}
    payload.update(changes)
    return payload


def check_in(
    items: list[dict[str, Any]],
    actor: dict[str, Any] = CASE_OWNER,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    today = _today(now)
    return {
        "actor": actor,
        "period_start": (today - timedelta(days=7)).isoformat(),
        "period_end": today.isoformat(),
        "progress": items,
        "victim_feedback": {"satisfaction": 4, "feel_safe": True},
    }


def closure(**changes: Any) -> dict[str, Any]:
    return {
        "actor": CASE_OWNER,
        "status": "closed",
        "checklist": {
            "all_actions_resolved": True,
            "victims_consulted": True,
            "victim_satisfaction": 4,
            "supplier_corrective_actions_verified": True,
            "no_ongoing_risk": True,
            "grievance_channel_open": True,
        },
        "summary": "Fictional: wages repaid and documents returned.",
        **changes,
    }


def lessons(**changes: Any) -> dict[str, Any]:
    return {
        "actor": CASE_OWNER,
        "root_causes": ["recruitment_fee_practices", "audit_gaps"],
        "due_diligence_gaps": ["No wage checks at trader tier"],
        "changes_made": [{"area": "audit_protocol", "description": "Payroll sampling added."}],
        "supplier_engagement_outcome": "Supplier adopted a wage-payment monitoring plan.",
        "share_with_industry_programme": False,
        **changes,
    }


def follow_up(recurrence: bool = False, **changes: Any) -> dict[str, Any]:
    return {
        "actor": CASE_OWNER,
        "remedy_sustained": not recurrence,
        "recurrence": recurrence,
        "victims_consulted": True,
        "findings": "Fictional: wages paid on time since closure."
        if not recurrence
        else "Fictional: new workers report withheld wages at the same site.",
        **changes,
    }


def approve(approval_id: str, actor: dict[str, Any] = APPROVER) -> dict[str, Any]:
    return {"actor": actor, "approval_id": approval_id}


def reject(approval_id: str, comments: str = "Add a livelihood action.") -> dict[str, Any]:
    return {"actor": APPROVER, "approval_id": approval_id, "comments": comments}


def record_victim(victim_id: str = "V-0001", child: bool = False, **changes: Any) -> dict[str, Any]:
    """Without personal data: `remediation victim record` seals that under the victim's key."""
    return {"actor": CASE_OWNER, "victim_id": victim_id, "child": child, **changes}


def record_consent(
    victim_id: str = "V-0001", *, now: datetime | None = None, **changes: Any
) -> dict[str, Any]:
    return {"actor": CASE_OWNER, "consent": {**consent(victim_id, now=now), **changes}}


def withdraw_consent(
    victim_id: str = "V-0001",
    purposes: list[str] | None = None,
    *,
    now: datetime | None = None,
    **changes: Any,
) -> dict[str, Any]:
    return {
        "actor": CASE_OWNER,
        "victim_id": victim_id,
        "purposes": purposes or ["data_sharing"],
        "withdrawn_at": _at(now).isoformat(),
        **changes,
    }


def share_victim_data(victim_id: str = "V-0001", **changes: Any) -> dict[str, Any]:
    return {
        "actor": CASE_OWNER,
        "victim_id": victim_id,
        "recipient_kind": "partner",
        "recipient": PARTNER["id"],
        "purpose": "Fictional: arrange the wage repayment.",
        **changes,
    }


def best_interests(
    victim_id: str | None = "V-0003", *, now: datetime | None = None, **changes: Any
) -> dict[str, Any]:
    return {
        "actor": CASE_OWNER,
        "victim_id": victim_id,
        "assessed_by": "Fictional child-protection officer",
        "recommendation": "Fictional: return to school with a family-tracing referral.",
        "assessed_at": _at(now).isoformat(),
        **changes,
    }


def erase_victim(victim_id: str = "V-0001", **changes: Any) -> dict[str, Any]:
    return {
        "actor": CASE_OWNER,
        "victim_id": victim_id,
        "reason": "Fictional: the victim asked for their data to be erased.",
        **changes,
    }
