"""Validation before sending (pure): what Xero would refuse, found without spending a Xero call.

Each problem says what is wrong in the user's words and what to do, so that an expense in SYNC_ERROR is
fixable by a person. The same checks guard edits and mappings, so a choice that cannot be synced is
refused when it is made.
"""

from __future__ import annotations

from dataclasses import dataclass

from xerosync.sync_expenses.mapping import CategoryMappings, ResolvedExpense, resolve
from xerosync.sync_expenses.models import MAX_TRACKING_PER_LINE, ExpenseRecord, Problem, TrackingChoice
from xerosync.sync_expenses.reference_data import ACTIVE, ReferenceData

# The help centre's advice when an account is missing from the list.
ENABLE_PAYMENTS_ACTION = ('In Xero, open Accounting > Chart of accounts, select the account and tick "Enable '
                          'payments to this account", then choose it here.')
RELINK_ACTION = "Link the bank account to a Xero bank account again in Accounting > Xero > Manage connection."


@dataclass(frozen=True)
class SyncContext:
    """Everything validation and building need besides the expense."""

    reference: ReferenceData | None
    mappings: CategoryMappings
    linked_accounts: dict[str, str]  # ledger account id -> the Xero BANK account its live feed uses
    bank_contact_name: str
    booking_offset_minutes: int = 480  # the bank's booking day (UTC+8), as auto-sync dates statement lines
    receipt_limits: tuple[int, int] | None = None  # (max bytes, max count): receipts judged before a sync

    def resolve(self, expense: ExpenseRecord) -> ResolvedExpense:
        return resolve(expense, self.mappings, self.reference, self.bank_contact_name, self.booking_offset_minutes)


def category_label(category: str | None) -> str:
    return category.replace("_", " ").capitalize() if category else "Uncategorised"


def account_problem(account_id: str, reference: ReferenceData) -> Problem | None:
    account = reference.account(account_id)
    if account is None or account.is_bank:
        return Problem(code="account_not_found",
                       message="The Xero account chosen was not found among the accounts that accept payments.",
                       action=ENABLE_PAYMENTS_ACTION)
    if account.status != ACTIVE:
        return Problem(code="account_archived", message=f"The Xero account {account.label} is archived in Xero.",
                       action="Choose another Xero account, or restore this one in Xero's Chart of accounts.")
    if not account.enable_payments_to_account:
        return Problem(code="account_payments_disabled",
                       message=f"The Xero account {account.label} does not accept payments.",
                       action=ENABLE_PAYMENTS_ACTION)
    return None


def tax_rate_problem(tax_type: str, reference: ReferenceData, *, from_account: str | None = None) -> Problem | None:
    rate = reference.tax_rate(tax_type)
    whose = f"The default tax rate of the Xero account {from_account}" if from_account else "The tax rate"
    if rate is None:
        return Problem(code="tax_rate_not_found", message=f"{whose} ({tax_type}) does not exist in Xero.",
                       action="Choose another tax rate for this expense.")
    if rate.status != ACTIVE:
        return Problem(code="tax_rate_archived", message=f"{whose}, {rate.name} ({rate.tax_type}), is no longer "
                                                         f"active in Xero ({rate.status.lower()}).",
                       action="Choose another tax rate for this expense.")
    if not rate.can_apply_to_expenses:
        return Problem(code="tax_rate_not_for_expenses",
                       message=f"{whose}, {rate.name} ({rate.tax_type}), cannot be used on expenses.",
                       action="Choose a tax rate for purchases or expenses.")
    return None


def tracking_problems(choices: list[TrackingChoice], reference: ReferenceData) -> list[Problem]:
    problems: list[Problem] = []
    if len(choices) > MAX_TRACKING_PER_LINE:
        return [Problem(code="tracking_too_many", message=f"Xero allows at most {MAX_TRACKING_PER_LINE} tracking "
                                                          "categories on an expense.",
                        action="Keep one option per tracking category, two at most.")]
    if len({c.tracking_category_id for c in choices}) != len(choices):
        return [Problem(code="tracking_category_repeated", message="A tracking category was chosen twice.",
                        action="Keep one option per tracking category.")]
    for choice in choices:
        category = reference.tracking_category(choice.tracking_category_id)
        if category is None:
            problems.append(Problem(code="tracking_category_not_found",
                                    message="A tracking category chosen for this expense no longer exists in Xero.",
                                    action="Choose the tracking again."))
            continue
        if category.status != ACTIVE:
            problems.append(Problem(code="tracking_category_archived",
                                    message=f"The tracking category '{category.name}' is archived in Xero.",
                                    action="Remove it from this expense, or restore it in Xero."))
            continue
        option = category.option(choice.tracking_option_id)
        if option is None:
            problems.append(Problem(code="tracking_option_not_found",
                                    message=f"The option chosen for '{category.name}' no longer exists in Xero.",
                                    action=f"Choose another option for '{category.name}'."))
        elif option.status != ACTIVE:
            problems.append(Problem(code="tracking_option_archived",
                                    message=f"The tracking option '{option.name}' of '{category.name}' is archived "
                                            "in Xero.",
                                    action=f"Choose another option for '{category.name}', or remove it."))
    return problems


# What only Xero's reference data says (an account, bank account, tax rate or tracking option missing or archived):
# a snapshot taken before the user changed something in Xero may say it wrongly, so it is refreshed once before
# any of these is shown (``ReferenceDataCache.without_gaps``).
FROM_REFERENCE_DATA = frozenset({
    "xero_bank_account_unavailable", "currency_mismatch", "currency_not_in_organisation", "account_not_found",
    "account_archived", "account_payments_disabled", "tax_rate_not_found", "tax_rate_archived",
    "tax_rate_not_for_expenses", "tracking_category_not_found", "tracking_category_archived",
    "tracking_option_not_found", "tracking_option_archived", "date_locked"})


def depends_on_reference_data(problems: list[Problem]) -> bool:
    return any(p.code in FROM_REFERENCE_DATA for p in problems)


def problems_for_sync(expense: ExpenseRecord, context: SyncContext) -> list[Problem]:
    """Everything that would stop this expense from becoming a Spend Money, known without calling Xero.

    Without reference data (Xero unreachable when it was needed) only the checks that need none are made;
    Xero's own validation then catches the rest, per element.
    """
    problems: list[Problem] = []
    payment = expense.payment
    resolved = context.resolve(expense)
    reference = context.reference
    bank_account_id = context.linked_accounts.get(payment.account_id)
    if bank_account_id is None:
        problems.append(Problem(code="account_not_linked",
                                message="The bank account this payment was made from is not linked to Xero.",
                                action=RELINK_ACTION))
    if payment.amount <= 0:
        problems.append(Problem(code="amount_not_positive", message="Only payments of a positive amount can be "
                                                                    "synced as Spend Money."))
    if resolved.xero_account_id is None:
        if payment.spend_category:
            message = (f"No Xero account is chosen for this expense, and its category "
                       f"'{category_label(payment.spend_category)}' is not mapped to one.")
            action = "Map the category to a Xero account, or choose a Xero account for this expense."
        else:
            message = "This expense has no category and no Xero account."
            action = "Choose a Xero account for this expense."
        problems.append(Problem(code="no_account", message=message, action=action))
    if not resolved.contact_name:
        problems.append(Problem(code="no_contact", message="This payment has no payee name, and Xero needs a "
                                                           "contact for a Spend Money.",
                                action="Enter the contact it was paid to."))
    if reference is None:
        return problems

    if bank_account_id is not None:
        bank_account = reference.account(bank_account_id)
        if bank_account is None or not bank_account.is_bank or bank_account.status != ACTIVE:
            problems.append(Problem(code="xero_bank_account_unavailable",
                                    message="The Xero bank account linked to this bank account is archived or was "
                                            "deleted in Xero.", action=RELINK_ACTION))
        elif bank_account.currency_code and bank_account.currency_code.upper() != payment.currency.upper():
            problems.append(Problem(code="currency_mismatch",
                                    message=f"The linked Xero bank account is in {bank_account.currency_code}, but "
                                            f"this payment is in {payment.currency}.", action=RELINK_ACTION))
    if not reference.uses_currency(payment.currency):
        problems.append(Problem(code="currency_not_in_organisation",
                                message=f"Your Xero organisation does not use {payment.currency}.",
                                action=f"In Xero, add {payment.currency} to your organisation's currencies (a plan "
                                       "with multi-currency is needed), then sync again."))
    account_label = None
    if resolved.xero_account_id is not None:
        problem = account_problem(resolved.xero_account_id, reference)
        if problem is not None:
            problems.append(problem)
        account = reference.account(resolved.xero_account_id)
        account_label = account.label if account else None
    if resolved.tax_type:
        problem = tax_rate_problem(resolved.tax_type, reference,
                                   from_account=account_label if resolved.tax_source == "account" else None)
        if problem is not None:
            problems.append(problem)
    problems.extend(tracking_problems(resolved.tracking, reference))
    lock = max(filter(None, (reference.period_lock_date, reference.end_of_year_lock_date)), default=None)
    if lock and resolved.date <= lock:
        problems.append(Problem(code="date_locked",
                                message=f"The payment's date {resolved.date} is on or before the lock date "
                                        f"of your Xero organisation ({lock}).",
                                action="Ask your adviser to move the lock date in Xero's Financial settings, then "
                                       "sync again."))
    return problems
