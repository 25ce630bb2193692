"""Xero's OpenAPI files: in CI a missing folder fails the run, locally it is said how to get it, and the
emulator's strict mode never turns itself off silently."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emulators.xero import XeroEmulator
from emulators.xero.spec import SPEC_DIR_VARIABLE, SpecFilesMissing, find_spec_dir, missing_spec_message
from local.template import REPO_ROOT


@pytest.fixture
def no_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The files' location pointed at an empty folder, as on a machine without them."""
    monkeypatch.setenv(SPEC_DIR_VARIABLE, str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    return tmp_path


def test_the_location_follows_the_variable_and_the_message_says_what_where_and_how(no_spec: Path) -> None:
    assert find_spec_dir() is None
    message = missing_spec_message()
    assert "xero_accounting.yaml" in message and "xero_bankfeeds.yaml" in message  # what is missing
    assert str(no_spec) in message  # where it was looked for
    assert SPEC_DIR_VARIABLE in message and "github.com/XeroAPI/Xero-OpenAPI" in message  # how to provide it


def test_strict_mode_asked_for_without_the_files_is_an_error_not_a_quiet_lenient_emulator(no_spec: Path) -> None:
    with pytest.raises(SpecFilesMissing, match=str(no_spec)):
        XeroEmulator(strict=True)


def test_in_ci_the_default_emulator_without_the_files_is_an_error(no_spec: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(SpecFilesMissing, match=SPEC_DIR_VARIABLE):
        XeroEmulator()


def test_locally_the_default_emulator_without_the_files_says_strict_mode_is_off_and_why(
    no_spec: Path, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = XeroEmulator()
    assert emulator.strict is False
    assert emulator.strict_off_reason is not None and str(no_spec) in emulator.strict_off_reason
    assert any("strict mode is off" in r.getMessage() for r in caplog.records)


def test_with_the_files_the_default_emulator_is_strict() -> None:
    if find_spec_dir() is None:
        pytest.skip(missing_spec_message())
    emulator = XeroEmulator()
    assert emulator.strict is True and emulator.strict_off_reason is None


def _pytest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_a_ci_run_without_the_files_fails_before_any_test_and_a_local_run_skips_saying_how(no_spec: Path) -> None:
    env = {**os.environ, SPEC_DIR_VARIABLE: str(no_spec)}
    env.pop("CI", None)
    contract = "tests/integration/contract/test_emulator_contract.py"

    ci = _pytest({**env, "CI": "true"}, contract)
    assert ci.returncode != 0
    assert "CI=true and Xero's OpenAPI files" in ci.stderr + ci.stdout and str(no_spec) in ci.stderr + ci.stdout

    local = _pytest(env, contract, "-rs")
    assert local.returncode == 0, local.stdout[-2000:]
    assert "skipped" in local.stdout and SPEC_DIR_VARIABLE in local.stdout and "passed" not in local.stdout
