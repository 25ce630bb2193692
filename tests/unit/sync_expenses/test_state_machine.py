"""The expense's state machine: ledger changes, Updated, sync outcomes, edits."""

from __future__ import annotations

from tests.unit.sync_expenses.factories import NOW, expense, ledger_transaction
from xerosync.sync_expenses import state_machine
from xerosync.sync_expenses.models import AttachmentProblem, ExpenseStatus, Problem, SpendMoneyLink

LATER = "2026-11-21T10:00:00Z"
RECEIPT = {"attachment_id": "att_9", "file_name": "r.jpg", "content_type": "image/jpeg", "size_bytes": 9,
           "sha256": "cd"}


def test_a_posted_payment_becomes_a_pending_expense_and_a_change_first_seen_is_already_updated() -> None:
    created = state_machine.apply_ledger(None, ledger_transaction(), NOW)
    assert created is not None
    assert (created.status, created.updated, created.revision, created.version) == (ExpenseStatus.PENDING, False,
                                                                                    1, 0)
    assert created.payment.booking_day(480) == "2026-11-20" and created.payment.booking_day(0) == "2026-11-19"
    assert created.payment.payee == "Harbour Taxi"
    late_first = state_machine.apply_ledger(None, ledger_transaction(version=3), NOW)
    assert late_first is not None and late_first.updated is True


def test_a_change_of_category_description_or_receipts_sets_updated_whatever_the_status() -> None:
    for status in ExpenseStatus:
        current = expense(status=status)
        for change in ({"spend_category": "software"}, {"description": "Airport"}, {"attachments": [RECEIPT]}):
            after = state_machine.apply_ledger(current, ledger_transaction(version=2, **change), LATER)
            assert after is not None
            assert after.updated and after.revision == current.revision + 1 and after.status == status, change
            assert after.payment.ledger_version == 2 and after.changed_at == LATER


def test_old_and_repeated_versions_change_nothing_and_a_version_without_a_content_change_keeps_updated_off() -> None:
    current = state_machine.apply_ledger(None, ledger_transaction(version=3, spend_category="rent"), NOW)
    assert current is not None
    current = current.model_copy(update={"updated": False})
    assert state_machine.apply_ledger(current, ledger_transaction(version=3), LATER) is None
    assert state_machine.apply_ledger(current, ledger_transaction(version=1), LATER) is None
    same = state_machine.apply_ledger(current, ledger_transaction(version=4, spend_category="rent"), LATER)
    assert same is not None and not same.updated and same.revision == current.revision


def test_synced_clears_updated_only_when_xero_got_the_latest_revision() -> None:
    updated = expense(updated=True, revision=3, status=ExpenseStatus.QUEUED, maybe_in_xero=True)
    caught_up = state_machine.synced(updated, bank_transaction_id="bt-1", link="https://go", sent_revision=3,
                                 job_id="job_1", now=LATER)
    assert (caught_up.status, caught_up.updated, caught_up.maybe_in_xero) == (ExpenseStatus.SYNCED, False, False)
    assert caught_up.spend_money == SpendMoneyLink(bank_transaction_id="bt-1", url="https://go", synced_at=LATER,
                                                   revision=3, ledger_version=1)
    assert caught_up.settlements == updated.settlements + 1
    behind = state_machine.synced(updated, bank_transaction_id="bt-1", link="https://go", sent_revision=2,
                              job_id="job_1", now=LATER)
    assert behind.updated is True, "a change that arrived while sending is not in Xero yet"


def test_refusals_explain_themselves() -> None:
    queued = expense(status=ExpenseStatus.QUEUED, spend_money=SpendMoneyLink(
        bank_transaction_id="bt-1", url="u", synced_at=NOW, revision=1, ledger_version=1), updated=True)
    refused = state_machine.refused(queued, ["Account code '999' is not a valid code for this document."], "job_1",
                                    LATER)
    assert refused.status == ExpenseStatus.SYNC_ERROR and refused.error is not None
    assert refused.error.message.startswith("Xero did not accept this expense: Account code '999'")
    reconciled = state_machine.update_refused_reconciled(queued, ["...reconciled..."], "job_1", LATER)
    assert (reconciled.status, reconciled.updated) == (ExpenseStatus.SYNCED, True)
    assert reconciled.error is not None and reconciled.error.code == "reconciled_in_xero"
    deleted = state_machine.spend_money_deleted(queued, ["...deleted..."], "job_1", LATER)
    assert deleted.status == ExpenseStatus.SYNC_ERROR and deleted.spend_money is None
    gone = state_machine.reconnect_required(queued, "Removed in Xero.", maybe_in_xero=True, job_id="job_1", now=LATER)
    assert gone.error is not None and gone.error.code == "reconnect_required" and gone.maybe_in_xero
    assert "Connect to Xero again" in (gone.error.action or "")


def test_several_problems_are_one_error_listing_each() -> None:
    problems = [Problem(code="no_account", message="No account.", action="Choose one."),
                Problem(code="no_contact", message="No payee.", action="Enter one.")]
    rejected = state_machine.reject(expense(), problems, "job_1", LATER)
    assert rejected.error is not None
    assert (rejected.error.code, rejected.error.message) == ("not_ready", "No account. No payee.")
    assert rejected.error.action == "Choose one.; Enter one." and rejected.error.problems == problems
    single = state_machine.reject(expense(), problems[:1], "job_1", LATER)
    assert single.error is not None and (single.error.code, single.error.action) == ("no_account", "Choose one.")


def test_an_edit_bumps_the_revision_and_puts_a_failed_expense_back_to_pending() -> None:
    failed = state_machine.reject(expense(), [Problem(code="no_account", message="x")], "job_1", NOW)
    edited = state_machine.edited(failed, {"xero_account_id": "acc-1", "description": "Taxi"}, LATER)
    assert edited.status == ExpenseStatus.PENDING and edited.error is None and edited.revision == failed.revision + 1
    assert edited.overrides.xero_account_id == "acc-1" and edited.overrides.description == "Taxi"
    assert state_machine.edited(edited, {"description": "Taxi"}, LATER) is edited, "no change, no new revision"
    cleared = state_machine.edited(edited, {"xero_account_id": None}, LATER)
    assert cleared.overrides.xero_account_id is None and cleared.overrides.description == "Taxi"


def test_attachment_problems_leave_the_expense_synced_and_show_as_its_error() -> None:
    synced = expense(status=ExpenseStatus.SYNCED)
    reported = state_machine.attachments_reported(synced, [AttachmentProblem(
        file_name="scan.pdf", message="The file is empty.", action="Attach the receipt again.")], LATER)
    assert reported.status == ExpenseStatus.SYNCED and reported.revision == synced.revision
    assert reported.attachment_errors[0].file_name == "scan.pdf" and not reported.updated
