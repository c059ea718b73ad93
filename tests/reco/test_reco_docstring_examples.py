"""The ``>>>`` examples in the reco modules' docstrings run and answer what they say.

The suite collects ``tests/`` only, so ``pytest --doctest-modules reco/`` would not run in
``make test``; this runs the same examples through :mod:`doctest`, one test per module.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import reco

MODULES = sorted(info.name for info in pkgutil.iter_modules(reco.__path__, "reco."))


def test_the_examples_are_found() -> None:
    """The modules with examples are the ones we expect (a renamed module is noticed)."""
    finder = doctest.DocTestFinder()
    with_examples = {
        name
        for name in MODULES
        if any(t.examples for t in finder.find(importlib.import_module(name)))
    }
    assert {
        "reco.coords",
        "reco.detector",
        "reco.estimators",
        "reco.event",
        "reco.firstguess",
        "reco.scan_config",
    } <= with_examples


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    """Every example of module ``name`` gives the output written under it."""
    result = doctest.testmod(importlib.import_module(name), verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
