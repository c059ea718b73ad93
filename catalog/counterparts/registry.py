"""The registry of counterpart catalogues: one JSON entry per catalogue, no code per one.

``data/catalogues.json`` lists each catalogue: its key, label (the circular's wording), the
published schema and table (``fermi.fgl4``), the file (CSV, gzipped or not, in ``data/``,
or an absolute path), every column with its CSV header, SQL type, unit and UCD (TAP_SCHEMA
publishes them), and which columns hold the name, position, 95 % error ellipse, class and
association.
Identifiers are checked here, once: they become SQL identifiers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

#: A schema, table or column name the registry may use: lower case, SQL-safe as it is.
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")

#: The column types a catalogue column may have.
ColumnType = Literal["text", "int", "double"]

#: The registry file in this package's ``data`` folder.
REGISTRY_FILE = "catalogues.json"


@dataclass(frozen=True, slots=True)
class CatalogueColumn:
    """One column of a catalogue: its name, CSV header, type, unit, UCD and meaning."""

    name: str
    csv: str
    type: ColumnType
    description: str
    unit: str | None = None
    ucd: str | None = None


@dataclass(frozen=True, slots=True)
class Catalogue:
    """One catalogue of the registry (see the module docstring).

    ``semi_major``, ``semi_minor`` and ``pos_angle`` name the 95 % error ellipse columns
    (degrees; the position angle of the major axis east of north); ``priority_classes`` are
    the classes listed first (blazars, lower-cased); ``link`` is a URL template with
    ``{name}`` for a page about one source.
    """

    key: str
    label: str
    description: str
    schema: str
    schema_description: str
    table: str
    file: str
    columns: tuple[CatalogueColumn, ...]
    name: str
    ra: str
    dec: str
    semi_major: str | None
    semi_minor: str | None
    pos_angle: str | None
    source_class: str | None
    association: str | None
    priority_classes: tuple[str, ...]
    link: str | None

    @property
    def qualified(self) -> str:
        """``schema.table``, as SQL and ADQL name it."""
        return f"{self.schema}.{self.table}"

    @property
    def tiles_table(self) -> str:
        """Name (in :attr:`schema`) of the table of ellipse-covering tiles."""
        return f"{self.table}_tiles"

    @property
    def has_ellipse(self) -> bool:
        """Whether the catalogue gives error ellipses (the second tier of matches)."""
        return None not in (self.semi_major, self.semi_minor, self.pos_angle)

    def column(self, name: str) -> CatalogueColumn:
        """The column called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def is_priority(self, source_class: str | None) -> bool:
        """Whether ``source_class`` is one of the classes listed first (case-insensitive)."""
        return (source_class or "").strip().lower() in self.priority_classes


def _identifier(value: Any, what: str) -> str:
    if not isinstance(value, str) or IDENTIFIER.fullmatch(value) is None:
        raise ValueError(f"catalogue registry: {what} {value!r} is not a lower-case identifier")
    return value


def _catalogue(entry: dict[str, Any]) -> Catalogue:
    """A :class:`Catalogue` from one JSON entry, its identifiers and roles checked."""
    columns = tuple(CatalogueColumn(
        name=_identifier(c["name"], "column"), csv=c["csv"], type=c["type"],
        description=c["description"], unit=c.get("unit"), ucd=c.get("ucd"))
        for c in entry["columns"])
    names = {c.name for c in columns}
    roles = {role: entry.get(role) for role in ("name", "ra", "dec", "semi_major",
                                                  "semi_minor", "pos_angle", "class",
                                                  "association")}
    for role, col in roles.items():
        if col is None and role in ("name", "ra", "dec"):
            raise ValueError(f"catalogue registry: {entry['key']} has no {role} column")
        if col is not None and col not in names:
            raise ValueError(f"catalogue registry: {entry['key']}: {role} column {col!r} "
                             "is not one of its columns")
    for c in columns:
        if c.type not in ("text", "int", "double"):
            raise ValueError(f"catalogue registry: column {c.name} has type {c.type!r}")
    if "hpx29" in names:
        raise ValueError("catalogue registry: hpx29 is the loader's own column")
    return Catalogue(
        key=entry["key"], label=entry["label"], description=entry["description"],
        schema=_identifier(entry["schema"], "schema"),
        schema_description=entry["schema_description"],
        table=_identifier(entry["table"], "table"), file=entry["file"], columns=columns,
        name=str(roles["name"]), ra=str(roles["ra"]), dec=str(roles["dec"]),
        semi_major=roles["semi_major"], semi_minor=roles["semi_minor"],
        pos_angle=roles["pos_angle"], source_class=roles["class"],
        association=roles["association"],
        priority_classes=tuple(c.lower() for c in entry.get("priority_classes", ())),
        link=entry.get("link"))


def parse_registry(text: str) -> tuple[Catalogue, ...]:
    """The catalogues of a registry document (JSON text)."""
    doc = json.loads(text)
    found = tuple(_catalogue(e) for e in doc["catalogues"])
    keys = [c.key for c in found]
    if len(set(keys)) != len(keys):
        raise ValueError("catalogue registry: a key is listed twice")
    return found


@lru_cache(maxsize=1)
def catalogues() -> tuple[Catalogue, ...]:
    """The catalogues of the bundled registry, in its order."""
    text = resources.files("catalog.counterparts").joinpath("data", REGISTRY_FILE)
    return parse_registry(text.read_text(encoding="utf-8"))


def catalogue(key: str) -> Catalogue:
    """The registered catalogue ``key`` (``KeyError`` if none)."""
    for c in catalogues():
        if c.key == key:
            return c
    raise KeyError(key)
