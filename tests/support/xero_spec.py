"""Whether Xero's OpenAPI files are here for the tests that need them."""

from __future__ import annotations

import pytest

from emulators.xero.spec import find_spec_dir, in_ci, missing_spec_message

#: Strict-mode tests need Xero's OpenAPI files; elsewhere the emulator runs without them. In CI they never
#: skip: without the files the run fails (tests/conftest.py says why before any test runs).
requires_spec = pytest.mark.skipif(
    find_spec_dir() is None and not in_ci(), reason=f"strict mode is off. {missing_spec_message()}"
)
