"""Fixtures for the CLI tests (helpers live in cli_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cli_helpers import Run, make_invoker


@pytest.fixture
def cli() -> Callable[..., Run]:
    return make_invoker()
