"""The official GCN schema of IceCube single-neutrino alerts, as one cached validator.

Used both to check incoming GCN Kafka JSON notices (importers) and the notices nufair writes
(notice builders). The schema files are copies of ``@nasa-gcn/schema`` kept under
``catalog/schemas_external`` with their directory layout, registered under the base URI that
their ``$ref``s use.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_BASE = "https://gcn.nasa.gov/schema/main/"
"""Base URI under which GCN publishes its schemas (the ``$id`` prefix of each file)."""

SCHEMA_PATH = "gcn/notices/icecube/single_neutrino_alerts.schema.json"
ICECUBE_SCHEMA = SCHEMA_BASE + SCHEMA_PATH

SCHEMA_FILES = (
    SCHEMA_PATH,
    "gcn/notices/neutrino/Alert.schema.json",
    "gcn/notices/core/Alert.schema.json",
    "gcn/notices/core/DateTime.schema.json",
    "gcn/notices/core/Event.schema.json",
    "gcn/notices/core/Localization.schema.json",
    "gcn/notices/core/Reporter.schema.json",
    "gcn/notices/core/Statistics.schema.json",
)


@cache
def validator() -> Draft202012Validator:
    """The validator of the IceCube schema, built once per process (it is the costly part)."""
    root = files("catalog.schemas_external")
    resources = []
    for path in SCHEMA_FILES:
        contents = json.loads(root.joinpath(path).read_text(encoding="utf-8"))
        resources.append((SCHEMA_BASE + path, Resource.from_contents(contents, DRAFT202012)))
    registry: Registry[Any] = Registry().with_resources(resources)
    return Draft202012Validator(registry.contents(ICECUBE_SCHEMA), registry=registry)
