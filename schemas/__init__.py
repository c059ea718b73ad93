"""Machine-readable contracts written by nufair itself, loaded with importlib.resources."""

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load(name: str) -> dict[str, Any]:
    """Return the JSON Schema ``name`` (file name without ``.schema.json``)."""
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
