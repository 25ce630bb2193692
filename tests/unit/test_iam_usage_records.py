"""The records that let tests/iam judge a parallel run: which tiers a run covers whole, and the union."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import iam_usage
from tests.support.iam_usage import Usage, read_records, whole_tiers

ROOT = iam_usage.REPO_ROOT


def test_a_run_of_tier_folders_covers_those_tiers_and_a_run_of_the_tests_folder_covers_all() -> None:
    assert whole_tiers(["tests/unit", "tests/e2e"], ROOT, filtered=False) == ["tests/e2e", "tests/unit"]
    assert whole_tiers(["tests"], ROOT, filtered=False) == sorted(iam_usage.TIERS)
    assert whole_tiers([str(ROOT / "tests" / "browser")], ROOT, filtered=False) == ["tests/browser"]


def test_a_run_of_some_files_or_selected_by_name_covers_no_tier() -> None:
    assert whole_tiers(["tests/unit/test_settings.py"], ROOT, filtered=False) == []
    assert whole_tiers(["tests/integration/test_queue_consumer.py::test_x"], ROOT, filtered=False) == []
    assert whole_tiers(["tests/iam"], ROOT, filtered=False) == []
    assert whole_tiers(["tests/unit"], ROOT, filtered=True) == []


def test_a_grant_is_used_when_any_process_used_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iam_usage, "RECORDS", tmp_path)
    grant = ["WorkerFunction", "sqs:SendMessage", "Queue.Arn", "role"]
    other = ["WorkerFunction", "dynamodb:GetItem", "MainTable.Arn", "role"]
    (tmp_path / "run-gw0.json").write_text(json.dumps(
        {"tiers": ["tests/unit"], "passed": True, "used": [[*grant, False], [*other, False]], "observed": {}}))
    (tmp_path / "run-gw1.json").write_text(json.dumps(
        {"tiers": ["tests/unit"], "passed": True, "used": [[*grant, True]],
         "observed": {"WorkerFunction": ["sqs:SendMessage Queue"]}}))
    usage = Usage()
    for record in read_records():
        usage.add(record.usage)
    assert usage.used == {tuple(grant): True, tuple(other): False}
    assert usage.observed == {"WorkerFunction": {"sqs:SendMessage Queue"}}
    iam_usage.clear_records()
    assert read_records() == []
