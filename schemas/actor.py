"""Who did something: every decision and every audit entry names its actor."""

from pydantic import BaseModel, ConfigDict, Field

# Role lives with the other picklists (pure, so the command line's help needs no pydantic).
from schemas.vocabulary import Role as Role


class Actor(BaseModel):
    """A person, partner or system acting on an incident."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._@:+-]+$",
        description="Stable identifier of the actor (staff id, partner id or system name).",
    )
    roles: tuple[Role, ...] = Field(
        default=(),
        max_length=8,
        description="Roles the actor holds for this action.",
    )


SYSTEM_ACTOR = Actor(id="system", roles=(Role.SYSTEM,))
