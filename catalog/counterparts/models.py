"""Wire models of counterpart candidates (REST, landing page, circular draft)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class CounterpartPublic(BaseModel):
    """A catalogued source inside (or whose error ellipse overlaps) a revision's region."""

    catalogue: str = Field(description="catalogue key, e.g. 4fgl-dr4")
    catalogue_label: str = Field(description="catalogue name for people, e.g. Fermi-LAT 4FGL")
    source_name: str
    level: int = Field(description="containment of the region, percent (50 or 90)")
    match: Literal["position", "ellipse"] = Field(
        description="position: the source's position lies in the region; ellipse: only its "
        "95 % error ellipse overlaps the region")
    separation_deg: float = Field(description="angular distance from the best fit, deg")
    ra: float = Field(description="deg, ICRS")
    dec: float = Field(description="deg, ICRS")
    source_class: str | None = None
    association: str | None = None
    blazar: bool = Field(description="the class is one listed first (bll, fsrq, bcu)")
    url: str | None = Field(None, description="a page about the source")


class CounterpartList(BaseModel):
    """The counterpart candidates of one revision of an event, in reading order."""

    event: str = Field(description="the event's name (or id when unnamed)")
    revision: int
    items: list[CounterpartPublic]
