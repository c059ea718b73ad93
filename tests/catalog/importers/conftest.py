"""Fixtures of the importer tests: bytes of the bundled sample and of tests/data/notices."""

from __future__ import annotations

from importlib.resources import files

import pytest


def sample_bytes(name: str) -> bytes:
    """A file of the bundled sample (package ``catalog.sample``)."""
    return files("catalog.sample").joinpath(name).read_bytes()


def notice_bytes(name: str) -> bytes:
    """A test-only notice (``tests/data/notices``)."""
    return files("tests.data.notices").joinpath(name).read_bytes()


@pytest.fixture
def sample() -> object:
    """:func:`sample_bytes`, for tests that read the bundled sample by name."""
    return sample_bytes


@pytest.fixture
def notice() -> object:
    """:func:`notice_bytes`, for tests that read a test-only notice by name."""
    return notice_bytes
