"""The engine's monitoring schedules as definitions: what each starts, when, and how it treats
overlaps and outages.

Plain data, without Temporal: the command line's help lists them (`remediation schedules
--help`) without importing the SDK. workers/schedules.py turns each into a Temporal Schedule and
applies it.
"""

from dataclasses import dataclass
from datetime import timedelta

from schemas.vocabulary import MonitoringKind
from workers.errors import StartupError

ID_PREFIX = "remediation-"
APPLIED_BY = "remediation schedules apply"


@dataclass(frozen=True)
class MonitoringSchedule:
    """One schedule of the engine: what it starts, when, and how it treats overlaps and outages."""

    name: str
    kind: MonitoringKind
    label: str
    when: str
    description: str
    hour: int
    minute: int = 0
    day_of_week: int | None = None  # 0 is Sunday
    day_of_month: int | None = None
    month: int | None = None
    catchup_window: timedelta = timedelta(days=1)
    execution_timeout: timedelta = timedelta(hours=6)

    def schedule_id(self, prefix: str = "") -> str:
        return f"{prefix}{ID_PREFIX}{self.name}"

    def memo(self) -> dict[str, str]:
        return {
            "kind": str(self.kind),
            "when": self.when,
            "description": self.description,
            "defined_by": APPLIED_BY,
        }


SCHEDULES: tuple[MonitoringSchedule, ...] = (
    MonitoringSchedule(
        name="portfolio-daily",
        kind=MonitoringKind.PORTFOLIO,
        label="portfolio daily",
        when="every day at 05:00 UTC",
        description="Daily portfolio monitoring: KPIs of the open incidents and a reconciliation "
        "of the case register with Temporal",
        hour=5,
        catchup_window=timedelta(days=1),
    ),
    MonitoringSchedule(
        name="digest-weekly",
        kind=MonitoringKind.DIGEST,
        label="digest weekly",
        when="Mondays at 06:00 UTC",
        description="Weekly digest of the portfolio for case owners and management",
        hour=6,
        day_of_week=1,
        catchup_window=timedelta(days=3),
    ),
    MonitoringSchedule(
        name="annual-summary",
        kind=MonitoringKind.ANNUAL,
        label="annual",
        when="15 January at 07:00 UTC",
        description="Yearly due-diligence summary of the remediation portfolio",
        hour=7,
        day_of_month=15,
        month=1,
        catchup_window=timedelta(days=7),
    ),
)


class UnknownSchedule(StartupError):
    """An id that names none of the engine's schedules."""


def schedule_ids(prefix: str = "") -> list[str]:
    return [definition.schedule_id(prefix) for definition in SCHEDULES]


def find(schedule_id: str, prefix: str = "") -> MonitoringSchedule:
    """The schedule named by its id, or by its kind (`portfolio`, `digest`, `annual`)."""
    for definition in SCHEDULES:
        if schedule_id in (definition.schedule_id(prefix), str(definition.kind)):
            return definition
    raise UnknownSchedule(
        f"no schedule {schedule_id!r}; the schedules are: {', '.join(schedule_ids(prefix))}"
    )


def duration_text(value: timedelta | None) -> str | None:
    if value is None:
        return None
    if value % timedelta(days=1) == timedelta(0):
        return f"{value.days} day{'s' if value.days != 1 else ''}"
    return str(value)
