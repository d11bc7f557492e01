"""Typed search attributes operators filter on in the Temporal UI.

See docs/design.md, What operators see.

They hold case metadata only, never victims' personal data. The local stack and the test
fixtures register exactly this list, so the server and the code cannot drift apart.
"""

from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

STEP = SearchAttributeKey.for_keyword("Step")
SEVERITY = SearchAttributeKey.for_keyword("Severity")
RESPONSE_LEVEL = SearchAttributeKey.for_keyword("ResponseLevel")
MINERAL = SearchAttributeKey.for_keyword_list("Mineral")
COUNTRY = SearchAttributeKey.for_keyword("Country")
FACILITY_ID = SearchAttributeKey.for_keyword_list("FacilityId")
CASE_OWNER = SearchAttributeKey.for_keyword("CaseOwner")
ESCALATION_LEVEL = SearchAttributeKey.for_int("EscalationLevel")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
OVERDUE = SearchAttributeKey.for_bool("Overdue")
# Who must act on what, by when (workflows/awaiting.py). Temporal's SQL visibility holds three
# KeywordList attributes per namespace (Mineral, FacilityId and this one), so the awaited
# decisions are one Text: readable, and searchable by word.
AWAITING_FROM = SearchAttributeKey.for_keyword_list("AwaitingFrom")
AWAITING_DECISION = SearchAttributeKey.for_text("AwaitingDecision")

UNASSIGNED = "unassigned"
"""`CaseOwner` of an incident nobody owns yet, so that a filter can find it."""

ALL: tuple[SearchAttributeKey, ...] = (  # type: ignore[type-arg]
    STEP,
    SEVERITY,
    RESPONSE_LEVEL,
    MINERAL,
    COUNTRY,
    FACILITY_ID,
    CASE_OWNER,
    ESCALATION_LEVEL,
    NEXT_DEADLINE,
    OVERDUE,
    AWAITING_FROM,
    AWAITING_DECISION,
)

# Type names as the Temporal CLI spells them (`--search-attribute Name=Type`).
_CLI_TYPE_NAMES = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


def cli_definitions() -> list[str]:
    """`Name=Type` pairs, as `temporal server start-dev --search-attribute` takes them."""
    return [f"{key.name}={_CLI_TYPE_NAMES[key.indexed_value_type]}" for key in ALL]
