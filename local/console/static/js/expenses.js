// Sync expenses: the category mapping, the Pending Sync and Synced tabs (filters, paging, selection of up to
// 1000), the expense details pane with its edit form and receipts, and a sync job's progress.

import { api, ApiError, local } from "./api.js";
import { badge, day, forget, h, money, problemBox, remember, replace, when } from "./dom.js";

const MAX_SELECTION = 1000; // the help centre: "a maximum of 1000 transactions at a time"
const PAGE_SIZES = [25, 50, 100, 200];
const JOB_POLL_MS = 400;
const TABS = [["pending", "Pending Sync"], ["synced", "Synced"]];

export function newExpensesState() {
  return {
    tab: "pending",
    filters: { account_id: "", status: "", posted_from: "", posted_to: "", updated: false, has_error: false },
    limit: 50,
    cursors: [null],
    page: 0,
    items: [],
    nextCursor: null,
    loading: false,
    selected: new Set(),
    reference: null,
    mappings: null,
    showMapping: false,
    detail: null,
    wanted: null, // the expense whose details were asked for last
    job: null,
    problem: null,
  };
}

function selectable(expense) {
  return expense.tab === "pending" ? ["PENDING", "SYNC_ERROR"].includes(expense.status)
    : expense.status === "SYNCED" && expense.updated;
}

function editable(expense) {
  return ["PENDING", "SYNC_ERROR"].includes(expense.status) || (expense.status === "SYNCED" && expense.updated);
}

// ------------------------------------------------------------------------------------------- entering

export async function enterExpenses(app) {
  const state = app.expenses;
  state.problem = null;
  try {
    const [reference, mappings] = await Promise.all([
      api("GET", "/v1/expenses/reference-data"), api("GET", "/v1/expenses/mappings")]);
    state.reference = reference;
    state.mappings = mappings;
    // The help centre: after opening Sync expenses "you will then be asked to Map your Xero accounts".
    state.showMapping = !mappings.changed_at;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    state.problem = error.problem;
  }
  app.render();
  if (!state.problem && !state.showMapping) await loadPage(app);
}

export function renderExpenses(app, container) {
  const state = app.expenses;
  const head = h("div", { className: "view-head" },
    h("a", { href: "#/xero", className: "back" }, "‹ Xero"),
    h("h1", {}, "Sync expenses"),
    state.problem || state.showMapping ? null : h("div", { className: "actions" },
      h("button", { type: "button", className: "secondary", onclick: () => { state.showMapping = true; app.render(); } },
        "Map categories"),
      h("button", { type: "button", className: "secondary", onclick: () => refreshReference(app) },
        "Refresh Xero data")));
  if (state.problem) {
    replace(container, head, problemBox(state.problem, { title: "Sync expenses is not available", kind: "info" }));
    return;
  }
  const notices = ((state.reference && state.reference.notices) || []).map(
    (notice) => problemBox(notice, { kind: "warn" }));
  if (state.showMapping) {
    replace(container, head, notices, mappingCard(app));
    return;
  }
  replace(container, head, notices,
    tabs(app),
    filtersForm(app),
    selectionBar(app),
    state.job ? progressPanel(state.job) : h("div", { id: "sync-progress-slot" }),
    h("div", { className: "split" },
      h("div", { className: "list" }, listTable(app), pager(app)),
      state.detail ? detailPane(app) : null));
}

async function refreshReference(app) {
  try {
    app.expenses.reference = await api("GET", "/v1/expenses/reference-data?refresh=true");
    app.flash(h("div", { className: "notice ok", role: "status" }, h("p", { className: "message" },
      "Xero's accounts, tax rates and tracking categories were read at ",
      when(app.expenses.reference.refreshed_at), ".")));
  } catch (error) {
    app.fail(error, "Refresh Xero data");
  }
  app.render();
}

// -------------------------------------------------------------------------------------------- mapping

function accountLabel(account) {
  return account ? `${account.code ? `${account.code} ` : ""}${account.name || account.account_id}` : "";
}

function mappingCard(app) {
  const state = app.expenses;
  const accounts = state.reference.accounts;
  const error = h("div", { className: "form-error" });
  const rows = state.mappings.mappings.map((mapping) => h("tr", {},
    h("th", { scope: "row" }, mapping.label),
    h("td", {}, h("select", { name: mapping.category, "aria-label": `Xero account for ${mapping.label}` },
      h("option", { value: "" }, "Not mapped"),
      accounts.map((account) => h("option", {
        value: account.account_id,
        selected: mapping.xero_account && mapping.xero_account.account_id === account.account_id,
      }, accountLabel(account))))),
    h("td", {}, mapping.problem ? problemBox(mapping.problem, { kind: "warn" }) : null)));
  const form = h("form", { "aria-labelledby": "mapping-title" },
    h("table", { className: "mapping" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Bank category"), h("th", { scope: "col" }, "Xero account"),
        h("th", { scope: "col" }, ""))),
      h("tbody", {}, rows)),
    h("div", { className: "actions" },
      h("button", { type: "submit", className: "primary" }, "Save mapping"),
      state.mappings.changed_at ? h("button", { type: "button", className: "secondary", onclick: () => {
        forget("mapping");
        state.showMapping = false;
        loadPage(app);
      } }, "Cancel") : null),
    error);
  remember(form, "mapping");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = state.mappings.mappings.map((mapping) => ({
      category: mapping.category,
      xero_account_id: form.elements[mapping.category].value || null,
    }));
    try {
      state.mappings = await api("PUT", "/v1/expenses/mappings", { mappings: chosen });
      forget("mapping");
      state.showMapping = false;
      app.flash(h("div", { className: "notice ok", role: "status" }, h("p", { className: "message" },
        "Mapping saved: expenses of a mapped category use its Xero account unless you choose another.")));
      app.render();
      await loadPage(app, { keepPage: false });
    } catch (failure) {
      if (!(failure instanceof ApiError)) throw failure;
      replace(error, problemBox(failure.problem, { title: "Mapping not saved" }));
    }
  });
  return h("section", { className: "card", id: "mapping" },
    h("h2", { id: "mapping-title" }, "Map your Xero accounts"),
    h("p", {}, "Expenses of a bank category go to the Xero account mapped to it. You can still choose another "
      + "account for any single expense, or change this mapping later."),
    h("p", { className: "hint" }, "Only Xero accounts with \u201cEnable payments to this account\u201d are offered."),
    form);
}

// ------------------------------------------------------------------------------------ tabs and filters

function tabs(app) {
  const state = app.expenses;
  const list = h("div", { role: "tablist", "aria-label": "Expenses" },
    TABS.map(([value, label]) => h("button", {
      type: "button", role: "tab", id: `tab-${value}`, "aria-selected": String(state.tab === value),
      "aria-controls": "expenses-panel", tabindex: state.tab === value ? "0" : "-1",
      onclick: () => switchTab(app, value),
    }, label)));
  list.addEventListener("keydown", (event) => {
    if (!["ArrowLeft", "ArrowRight"].includes(event.key)) return;
    const next = TABS[(TABS.findIndex(([v]) => v === state.tab) + 1) % TABS.length][0];
    switchTab(app, next).then(() => document.getElementById(`tab-${next}`).focus());
  });
  return list;
}

async function switchTab(app, tab) {
  const state = app.expenses;
  if (state.tab === tab) return;
  state.tab = tab;
  state.filters.status = "";
  state.selected.clear();
  await loadPage(app, { keepPage: false });
}

function filtersForm(app) {
  const state = app.expenses;
  const filters = state.filters;
  const linked = ((app.connection && app.connection.accounts) || []).filter((a) => a.link);
  const statuses = state.tab === "pending"
    ? [["", "Any status"], ["PENDING", "Pending"], ["QUEUED", "Syncing"], ["SYNC_ERROR", "Sync error"]]
    : [];
  const form = h("form", { className: "filters", "aria-label": "Filters" },
    h("label", {}, "Bank account ", h("select", { name: "account_id" },
      h("option", { value: "" }, "All accounts"),
      linked.map((a) => h("option", { value: a.account_id, selected: filters.account_id === a.account_id },
        `${a.name} (${a.currency})`)))),
    statuses.length ? h("label", {}, "Status ", h("select", { name: "status" },
      statuses.map(([value, label]) => h("option", { value, selected: filters.status === value }, label)))) : null,
    h("label", {}, "From ", h("input", { type: "date", name: "posted_from", value: filters.posted_from })),
    h("label", {}, "To ", h("input", { type: "date", name: "posted_to", value: filters.posted_to })),
    h("label", { className: "check" }, h("input", { type: "checkbox", name: "updated", checked: filters.updated }),
      " Updated only"),
    h("label", { className: "check" }, h("input", { type: "checkbox", name: "has_error", checked: filters.has_error }),
      " Sync errors only"),
    h("label", {}, "Per page ", h("select", { name: "limit" },
      PAGE_SIZES.map((size) => h("option", { value: size, selected: state.limit === size }, size)))));
  form.addEventListener("change", async () => {
    const data = new FormData(form);
    state.filters = {
      account_id: data.get("account_id") || "",
      status: data.get("status") || "",
      posted_from: data.get("posted_from") || "",
      posted_to: data.get("posted_to") || "",
      updated: data.get("updated") === "on",
      has_error: data.get("has_error") === "on",
    };
    state.limit = Number(data.get("limit"));
    await loadPage(app, { keepPage: false });
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  return form;
}

function query(state, cursor, limit) {
  const params = new URLSearchParams({ tab: state.tab, limit: String(limit) });
  const f = state.filters;
  for (const name of ["account_id", "status", "posted_from", "posted_to"]) if (f[name]) params.set(name, f[name]);
  if (f.updated) params.set("updated", "true");
  if (f.has_error) params.set("has_error", "true");
  if (cursor) params.set("cursor", cursor);
  return `/v1/expenses?${params}`;
}

export async function loadPage(app, { keepPage = true } = {}) {
  const state = app.expenses;
  if (!keepPage) {
    state.cursors = [null];
    state.page = 0;
  }
  state.loading = true;
  app.render(); // aria-busy: the list is being read again
  try {
    const page = await api("GET", query(state, state.cursors[state.page], state.limit));
    state.items = page.items;
    state.nextCursor = page.next_cursor;
  } catch (error) {
    app.fail(error, "Expenses");
  }
  state.loading = false;
  app.render();
}

async function turnPage(app, step) {
  const state = app.expenses;
  if (step > 0) {
    state.cursors[state.page + 1] = state.nextCursor;
    state.page += 1;
  } else {
    state.page = Math.max(0, state.page - 1);
  }
  await loadPage(app);
}

// -------------------------------------------------------------------------------------------- the list

function listTable(app) {
  const state = app.expenses;
  const pageSelectable = state.items.filter(selectable);
  const allOnPage = pageSelectable.length > 0 && pageSelectable.every((e) => state.selected.has(e.transaction_id));
  const tabLabel = TABS.find(([v]) => v === state.tab)[1];
  return h("div", { id: "expenses-panel", role: "tabpanel", "aria-labelledby": `tab-${state.tab}`,
    "aria-busy": String(state.loading) },
  state.items.length === 0 && !state.loading
    ? h("p", { className: "empty" }, filtered(state) ? "No expenses match these filters."
      : state.tab === "pending" ? "No expenses are waiting to be synced." : "No expenses have been synced yet.")
    : h("table", { id: "expenses" },
      h("caption", { className: "visually-hidden" }, `${tabLabel} expenses`),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, h("input", { type: "checkbox", "aria-label": "Select this page",
          checked: allOnPage, disabled: pageSelectable.length === 0,
          onchange: (event) => selectPage(app, pageSelectable, event.target.checked) })),
        ["Date", "Payee", "Amount", "Xero account", "Tax rate", "Receipts", "Status"].map(
          (title) => h("th", { scope: "col" }, title)))),
      h("tbody", {}, state.items.map((expense) => expenseRow(app, expense)))));
}

function filtered(state) {
  return Object.values(state.filters).some(Boolean);
}

function expenseRow(app, expense) {
  const state = app.expenses;
  const id = expense.transaction_id;
  const name = expense.payee || expense.description || "Payment";
  return h("tr", { dataset: { transactionId: id },
    className: state.detail && state.detail.expense.transaction_id === id ? "current" : "" },
  h("td", {}, h("input", { type: "checkbox", "aria-label": `Select ${name} ${money(expense.amount, expense.currency)}`,
    checked: state.selected.has(id), disabled: !selectable(expense),
    onchange: (event) => toggle(app, id, event.target.checked, event.target) })),
  h("td", {}, day(expense.date)),
  h("td", {}, h("button", { type: "button", className: "link", onclick: () => openDetail(app, id) }, name),
    expense.description && expense.description !== name ? h("div", { className: "sub" }, expense.description) : null),
  h("td", { className: "num" }, money(expense.amount, expense.currency)),
  h("td", {}, expense.xero_account ? accountLabel(expense.xero_account) : h("span", { className: "missing" }, "None"),
    sourceNote(expense, "xero_account")),
  h("td", {}, expense.tax_rate ? expense.tax_rate.name || expense.tax_rate.tax_type : "—",
    sourceNote(expense, "tax_rate")),
  h("td", { className: "num" }, String(expense.attachment_count)),
  h("td", { className: "labels" }, labels(expense)));
}

// Where a value came from, in words ("from your last 6 expenses at Grab"); shown for suggestions and rules, which
// a person did not choose on the expense itself.
function sourceNote(expense, field) {
  const source = (expense.sources || []).find((s) => s.field === field);
  if (!source || !["rule", "history"].includes(source.source)) return null;
  return h("div", { className: `sub source ${source.source}` }, source.explanation);
}

function labels(expense) {
  const shown = [];
  if (expense.status === "SYNC_ERROR" || (expense.attachment_errors || []).length) shown.push(badge("Sync error", "bad"));
  if (expense.status === "QUEUED") shown.push(badge("Syncing", "wait"));
  if (expense.status === "SYNCED" && !(expense.attachment_errors || []).length) shown.push(badge("Synced", "ok"));
  if (expense.updated) shown.push(badge("Updated", "info"));
  if (expense.status === "PENDING" && !expense.ready_to_sync) shown.push(badge("Needs a Xero account", "warn"));
  if (expense.spend_money) {
    shown.push(h("a", { href: expense.spend_money.url, target: "_blank", rel: "noopener" }, "View in Xero"));
  }
  return shown;
}

function toggle(app, id, on, checkbox) {
  const state = app.expenses;
  if (on && state.selected.size >= MAX_SELECTION) {
    checkbox.checked = false;
    app.flash(problemBox({ message: `You can select at most ${MAX_SELECTION} transactions at a time.`,
      action: "Sync these first, then select the rest." }, { kind: "warn" }));
    return;
  }
  if (on) state.selected.add(id); else state.selected.delete(id);
  app.render();
}

function selectPage(app, expenses, on) {
  const state = app.expenses;
  for (const expense of expenses) {
    if (!on) state.selected.delete(expense.transaction_id);
    else if (state.selected.size < MAX_SELECTION) state.selected.add(expense.transaction_id);
  }
  app.render();
}

// Every expense the filters match, page after page, up to the limit of one sync.
async function selectAllMatching(app) {
  const state = app.expenses;
  let cursor = null;
  let more = false;
  do {
    const page = await api("GET", query(state, cursor, 200));
    for (const expense of page.items.filter(selectable)) {
      if (state.selected.size >= MAX_SELECTION) {
        more = true;
        break;
      }
      state.selected.add(expense.transaction_id);
    }
    cursor = page.next_cursor;
  } while (cursor && !more);
  app.flash(more ? problemBox({ message: `Only ${MAX_SELECTION} transactions can be synced at a time: the first `
    + `${MAX_SELECTION} are selected.`, action: "Sync them, then select the rest." }, { kind: "warn" }) : null);
  app.render();
}

function selectionBar(app) {
  const state = app.expenses;
  const count = state.selected.size;
  const running = state.job && state.job.status === "RUNNING";
  return h("div", { className: "selection-bar" },
    h("span", { id: "selected-count", "aria-live": "polite" }, `${count} selected`),
    h("button", { type: "button", className: "secondary", onclick: () => selectAllMatching(app) },
      `Select all matching (up to ${MAX_SELECTION})`),
    count ? h("button", { type: "button", className: "link", onclick: () => { state.selected.clear(); app.render(); } },
      "Clear selection") : null,
    h("button", { type: "button", className: "primary", disabled: count === 0 || running,
      onclick: () => startSync(app, [...state.selected]) }, "Sync Expenses"));
}

function pager(app) {
  const state = app.expenses;
  return h("nav", { className: "pager", "aria-label": "Pages" },
    h("button", { type: "button", className: "secondary", disabled: state.page === 0,
      onclick: () => turnPage(app, -1) }, h("span", { "aria-hidden": "true" }, "‹ "), "Previous"),
    h("span", { id: "page-number" }, `Page ${state.page + 1}`),
    h("button", { type: "button", className: "secondary", disabled: !state.nextCursor,
      onclick: () => turnPage(app, 1) }, "Next", h("span", { "aria-hidden": "true" }, " ›")));
}

// ----------------------------------------------------------------------------------------- sync and job

async function startSync(app, ids) {
  const state = app.expenses;
  try {
    // One key per click: a double click makes one job.
    const job = await api("POST", "/v1/expenses/sync-jobs", { transaction_ids: ids },
      { "Idempotency-Key": crypto.randomUUID() });
    state.selected.clear();
    await followJob(app, job);
  } catch (error) {
    app.fail(error, "Sync Expenses");
  }
}

async function followJob(app, job) {
  const state = app.expenses;
  state.job = job;
  app.render();
  while (state.job && state.job.job_id === job.job_id && state.job.status === "RUNNING") {
    await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
    try {
      state.job = await api("GET", `/v1/expenses/sync-jobs/${encodeURIComponent(job.job_id)}`);
    } catch (error) {
      app.fail(error, "Sync progress");
      break;
    }
    const slot = document.getElementById("sync-progress");
    if (slot) slot.replaceWith(progressPanel(state.job));
  }
  await loadPage(app);
  if (state.wanted) await openDetail(app, state.wanted);
}

function progressPanel(job) {
  const percent = job.percent_done;
  const skipped = job.skipped || [];
  return h("section", { id: "sync-progress", className: "card progress", "aria-labelledby": "progress-title" },
    h("h2", { id: "progress-title" }, job.status === "COMPLETED" ? "Sync finished" : "Syncing to Xero"),
    h("div", { className: "bar" },
      h("progress", { id: "sync-progress-bar", max: 100, value: percent, "aria-label": "Sync progress" },
        `${percent}%`),
      h("span", { className: "percent" }, `${percent}%`)),
    h("p", { id: "sync-summary", "aria-live": "polite" }, job.summary),
    skipped.length ? h("details", {}, h("summary", {}, `${skipped.length} not synced again`),
      h("ul", {}, skipped.slice(0, 20).map((s) => h("li", {}, s.message)))) : null);
}

// ------------------------------------------------------------------------------------ the details pane

const RECEIPTS_POLL_MS = 2000;

export async function openDetail(app, transactionId) {
  const state = app.expenses;
  state.wanted = transactionId; // the last expense asked for wins over any answer still on its way
  try {
    const path = `/v1/expenses/${encodeURIComponent(transactionId)}`;
    const [expense, receipts] = await Promise.all([api("GET", path), api("GET", `${path}/attachments`)]);
    if (state.wanted !== transactionId) return;
    state.detail = { expense, receipts };
  } catch (error) {
    if (state.wanted === transactionId) app.fail(error, "Expense details");
    return;
  }
  app.render();
  // Receipts go to Xero after the Spend Money, one by one: follow them while the pane shows this expense.
  const inFlight = state.detail.receipts.files.some((f) => ["QUEUED", "UPLOADING"].includes(f.state))
    || (state.detail.expense.status === "SYNCED" && state.detail.receipts.waiting > 0);
  if (inFlight) {
    setTimeout(() => {
      const editing = document.activeElement && document.activeElement.closest("#edit-form");
      if (app.view === "expenses" && app.expenses.wanted === transactionId && !editing) {
        openDetail(app, transactionId);
      }
    }, RECEIPTS_POLL_MS);
  }
}

function detailPane(app) {
  const state = app.expenses;
  const { expense, receipts } = state.detail;
  const name = expense.payee || expense.description || "Payment";
  return h("aside", { id: "expense-pane", className: "card pane", "aria-labelledby": "pane-title" },
    h("div", { className: "pane-head" },
      h("h2", { id: "pane-title" }, "Expense details"),
      h("button", { type: "button", className: "link", "aria-label": "Close details", onclick: () => {
        forget(`edit:${expense.transaction_id}`);
        state.detail = null;
        state.wanted = null;
        app.render();
      } }, "✕")),
    h("p", { className: "headline" }, h("strong", {}, name), ` ${money(expense.amount, expense.currency)}`),
    h("div", { className: "labels" }, labels(expense)),
    h("dl", { className: "facts" },
      h("dt", {}, "Date"), h("dd", {}, day(expense.date)),
      h("dt", {}, "Bank account"), h("dd", {}, expense.account_name || expense.account_id),
      h("dt", {}, "Bank category"), h("dd", {}, expense.spend_category || "None"),
      h("dt", {}, "Reference"), h("dd", {}, expense.reference || "—"),
      h("dt", {}, "Status"), h("dd", { id: "expense-status" }, expense.status.replace("_", " ").toLowerCase()),
      expense.spend_money ? [h("dt", {}, "In Xero"), h("dd", {},
        h("a", { href: expense.spend_money.url, target: "_blank", rel: "noopener" }, "Spend Money"),
        " synced ", when(expense.spend_money.synced_at))] : null),
    errorBlock(expense),
    suggestionsBlock(app, expense),
    editForm(app, expense),
    receiptsBlock(app, expense, receipts),
    selectable(expense) ? h("div", { className: "actions" },
      h("button", { type: "button", className: "primary", disabled: state.job && state.job.status === "RUNNING",
        onclick: () => startSync(app, [expense.transaction_id]) }, "Sync expense")) : null,
    bankControls(app, expense));
}

// The values the payee's rule or history filled in: accept them all (they become the expense's own), or keep the
// suggested ones for every expense of the payee as a rule.
function suggestionsBlock(app, expense) {
  const sources = (expense.sources || []);
  if (!sources.length) return null;
  const state = app.expenses;
  const names = { xero_account: "Xero account", tax_rate: "Tax rate", tracking: "Tracking" };
  const error = h("div", { className: "form-error" });
  const suggested = sources.filter((s) => ["rule", "history"].includes(s.source));
  const refresh = async (message) => {
    state.detail.expense = await api("GET", `/v1/expenses/${encodeURIComponent(expense.transaction_id)}`);
    app.flash(h("div", { className: "notice ok", role: "status" }, h("p", { className: "message" }, message)));
    await loadPage(app);
  };
  const accept = async () => {
    try {
      await api("POST", `/v1/expenses/${encodeURIComponent(expense.transaction_id)}/accept-suggestions`);
      await refresh(`Suggestions accepted for ${expense.payee || "the expense"}.`);
    } catch (failure) {
      if (!(failure instanceof ApiError)) throw failure;
      replace(error, problemBox(failure.problem, { title: "Not accepted" }));
    }
  };
  const saveRule = async () => {
    const rule = { payee: expense.payee };
    if (expense.xero_account) rule.xero_account_id = expense.xero_account.account_id;
    if (expense.tax_rate) rule.tax_type = expense.tax_rate.tax_type;
    if ((expense.tracking || []).length) {
      rule.tracking = expense.tracking.map((t) => ({ tracking_category_id: t.tracking_category_id,
        tracking_option_id: t.tracking_option_id }));
    }
    try {
      await api("POST", "/v1/expenses/payee-rules", rule);
      await refresh(`Saved as the rule for ${expense.payee}: its expenses will get these values.`);
    } catch (failure) {
      if (!(failure instanceof ApiError)) throw failure;
      replace(error, problemBox(failure.problem, { title: "Rule not saved" }));
    }
  };
  const ruled = sources.some((s) => s.source === "rule");
  return h("section", { className: "suggestions", id: "value-sources", "aria-labelledby": "sources-title" },
    h("h3", { id: "sources-title" }, "Where the values come from"),
    h("ul", {}, sources.map((s) => h("li", { dataset: { field: s.field, source: s.source } },
      h("strong", {}, names[s.field]), `: ${s.explanation}`))),
    editable(expense) && (suggested.length || (expense.payee && !ruled)) ? h("div", { className: "actions" },
      expense.has_suggestions ? h("button", { type: "button", onclick: accept }, "Accept suggestions") : null,
      expense.payee && !ruled && expense.xero_account ? h("button", { type: "button", onclick: saveRule },
        `Save as rule for ${expense.payee}`) : null) : null,
    error);
}

function errorBlock(expense) {
  const blocks = [];
  const error = expense.error;
  if (error) {
    // Each problem once: the error's own sentence often is its only problem's.
    const others = (error.problems || []).filter((p) => p.message !== error.message);
    blocks.push(h("div", { className: "notice error", role: "alert", id: "sync-error" },
      h("strong", {}, "Sync error"),
      h("p", { className: "message" }, error.message),
      others.length ? h("ul", {}, others.map((p) => h("li", {}, p.message,
        p.action && p.action !== error.action ? h("span", { className: "action" }, ` ${p.action}`) : null))) : null,
      (error.xero_messages || []).length ? [h("p", {}, "Xero said:"),
        h("ul", {}, error.xero_messages.map((m) => h("li", {}, m)))] : null,
      error.action ? h("p", { className: "action" }, error.action) : null,
      h("p", { className: "sub" }, "At ", when(error.at))));
  }
  const files = expense.attachment_errors || [];
  if (files.length) {
    blocks.push(h("div", { className: "notice error", role: "alert", id: "receipt-errors" },
      h("strong", {}, "Sync error: some receipts are not in Xero"),
      h("ul", {}, files.map((f) => h("li", {}, h("strong", {}, f.file_name), `: ${f.message}`,
        f.action ? h("span", { className: "action" }, ` ${f.action}`) : null)))));
  }
  if (!error && !expense.ready_to_sync && (expense.problems || []).length) {
    blocks.push(h("div", { className: "notice warn", role: "status" },
      h("strong", {}, "Not ready to sync"),
      h("ul", {}, expense.problems.map((p) => h("li", {}, p.message,
        p.action ? h("span", { className: "action" }, ` ${p.action}`) : null)))));
  }
  return blocks;
}

function editForm(app, expense) {
  const state = app.expenses;
  const reference = state.reference;
  if (!editable(expense)) {
    return h("p", { className: "hint" }, expense.status === "QUEUED" ? "Being synced to Xero; it can be edited "
      + "once the sync ends." : "Synced. It can be edited again once it changes in the bank (Updated).");
  }
  const chosenAccount = expense.xero_account && expense.xero_account.source === "expense"
    ? expense.xero_account.account_id : "";
  const chosenTax = expense.tax_rate && expense.tax_rate.source === "expense" ? expense.tax_rate.tax_type : "";
  const tracking = Object.fromEntries((expense.tracking || []).map(
    (t) => [t.tracking_category_id, t.tracking_option_id]));
  const mapped = expense.xero_account && expense.xero_account.source !== "expense"
    ? ` (${accountLabel(expense.xero_account)})` : "";
  const error = h("div", { className: "form-error" });
  const form = h("form", { id: "edit-form", "aria-label": "Edit expense" },
    h("label", {}, "Xero account", h("select", { name: "xero_account_id" },
      h("option", { value: "" }, `Suggested or mapped${mapped}`),
      reference.accounts.map((a) => h("option", { value: a.account_id, selected: a.account_id === chosenAccount },
        accountLabel(a))))),
    h("label", {}, "Tax rate", h("select", { name: "tax_type" },
      h("option", { value: "" }, "The account's default"),
      reference.tax_rates.map((t) => h("option", { value: t.tax_type, selected: t.tax_type === chosenTax },
        `${t.name}${t.rate !== null && t.rate !== undefined ? ` (${Number(t.rate)}%)` : ""}`)))),
    reference.tracking_categories.map((category) => h("label", {}, category.name,
      h("select", { name: `tracking:${category.tracking_category_id}`, "aria-label": `Tracking: ${category.name}` },
        h("option", { value: "" }, "None"),
        category.options.map((o) => h("option", { value: o.tracking_option_id,
          selected: tracking[category.tracking_category_id] === o.tracking_option_id }, o.name))))),
    h("label", {}, "Description", h("input", { name: "description", maxlength: 4000, value: expense.description })),
    h("label", {}, "Reference", h("input", { name: "reference", maxlength: 255, value: expense.reference })),
    h("label", {}, "Contact", h("input", { name: "contact_name", maxlength: 255, value: expense.contact_name })),
    h("div", { className: "actions" }, h("button", { type: "submit" }, "Save changes")),
    error);
  const draft = `edit:${expense.transaction_id}`;
  remember(form, draft);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const edit = {};
    if ((data.get("xero_account_id") || "") !== chosenAccount) edit.xero_account_id = data.get("xero_account_id") || null;
    if ((data.get("tax_type") || "") !== chosenTax) edit.tax_type = data.get("tax_type") || null;
    const chosen = reference.tracking_categories
      .map((c) => ({ tracking_category_id: c.tracking_category_id,
        tracking_option_id: data.get(`tracking:${c.tracking_category_id}`) || "" }))
      .filter((t) => t.tracking_option_id);
    const before = JSON.stringify(Object.entries(tracking).sort());
    const after = JSON.stringify(chosen.map((t) => [t.tracking_category_id, t.tracking_option_id]).sort());
    if (before !== after) edit.tracking = chosen.length ? chosen : null;
    for (const name of ["description", "reference", "contact_name"]) {
      const value = String(data.get(name) || "").trim();
      if (value !== (expense[name] || "")) edit[name] = value || null;
    }
    if (Object.keys(edit).length === 0) {
      replace(error, problemBox({ message: "Nothing changed." }, { kind: "info" }));
      return;
    }
    try {
      state.detail.expense = await api("PATCH", `/v1/expenses/${encodeURIComponent(expense.transaction_id)}`, edit);
      forget(draft);
      app.flash(h("div", { className: "notice ok", role: "status" }, h("p", { className: "message" },
        `Saved: ${expense.payee || "the expense"} is ready to sync again.`)));
      await loadPage(app);
    } catch (failure) {
      if (!(failure instanceof ApiError)) throw failure;
      replace(error, problemBox(failure.problem, { title: "Not saved" }));
    }
  });
  return h("section", { className: "edit", "aria-labelledby": "edit-title" },
    h("h3", { id: "edit-title" }, "Expense details to sync"), form);
}

const RECEIPT_STATES = {
  WAITING: "wait", QUEUED: "wait", UPLOADING: "wait", SYNCED: "ok", ERROR: "bad", NOT_ACCEPTED: "bad",
};

function receiptsBlock(app, expense, receipts) {
  if (!receipts || receipts.files.length === 0) {
    return h("section", { className: "receipts" }, h("h3", {}, "Receipts"), h("p", { className: "hint" }, "No receipts."));
  }
  const retry = async () => {
    try {
      app.expenses.detail.receipts = await api("POST",
        `/v1/expenses/${encodeURIComponent(expense.transaction_id)}/attachments/retry`);
      app.render();
    } catch (error) {
      app.fail(error, "Send receipts again");
    }
  };
  return h("section", { className: "receipts", "aria-labelledby": "receipts-title" },
    h("h3", { id: "receipts-title" }, "Receipts"),
    h("p", { id: "receipts-summary" }, receipts.summary),
    h("ul", { className: "files" }, receipts.files.map((file) => h("li", {},
      badge(titleCase(file.state.replace("_", " ")), RECEIPT_STATES[file.state] || "neutral"), " ",
      h("span", { className: "file-name" }, file.file_name),
      h("span", { className: "sub" }, ` ${(file.size_bytes / 1_000_000).toFixed(2)} MB`),
      file.reason ? h("div", { className: "reason" }, file.reason,
        file.action ? h("span", { className: "action" }, ` ${file.action}`) : null) : null))),
    expense.status === "SYNCED" && receipts.failed
      ? h("button", { type: "button", className: "secondary", onclick: retry }, "Send receipts again") : null);
}

function titleCase(text) {
  return text.charAt(0) + text.slice(1).toLowerCase();
}

const FOLLOW_MS = 1000;
const FOLLOW_TRIES = 20;

// The ledger's event reaches the product a moment after the change: the pane and the list follow until it has.
async function followBankChange(app, before) {
  const seen = (e) => JSON.stringify([e.spend_category, e.attachment_count, e.description, e.updated]);
  for (let attempt = 0; attempt < FOLLOW_TRIES; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_MS));
    if (app.view !== "expenses" || app.expenses.wanted !== before.transaction_id) return;
    let now;
    try {
      now = await api("GET", `/v1/expenses/${encodeURIComponent(before.transaction_id)}`);
    } catch {
      return;
    }
    if (seen(now) !== seen(before)) {
      await loadPage(app);
      await openDetail(app, before.transaction_id);
      return;
    }
  }
}

// A local control: change the payment in the bank (the ledger emulator), as the customer would in the app.
function bankControls(app, expense) {
  const categories = (app.expenses.mappings && app.expenses.mappings.mappings) || [];
  const path = `/_local/ledger/accounts/${encodeURIComponent(expense.account_id)}/transactions/`
    + `${encodeURIComponent(expense.transaction_id)}`;
  const change = (body, done) => app.control(async () => {
    await local(body.kind ? "POST" : "PATCH", body.kind ? `${path}/attachments` : path, body);
    followBankChange(app, expense);
    return done;
  });
  const select = h("select", { "aria-label": "Bank category" }, categories.map((c) => h("option", {
    value: c.category, selected: c.category === expense.spend_category }, c.label)));
  return h("section", { className: "local-box", "aria-labelledby": "bank-side-title" },
    h("h3", { id: "bank-side-title" }, "In the bank (local control)"),
    h("p", { className: "hint" }, "Changes the payment in the ledger emulator; the product hears of it through the "
      + "ledger's events, as it would of a change made in the bank's app."),
    h("div", { className: "inline-fields" }, select,
      h("button", { type: "button", className: "secondary", onclick: () => change({ spend_category: select.value },
        `Category of ${expense.payee || expense.transaction_id} changed to ${select.value} in the bank.`) },
      "Change category")),
    h("div", { className: "inline-fields" },
      h("button", { type: "button", className: "secondary", onclick: () => change(
        { kind: "pdf", size_bytes: 60_000, file_name: "Receipt.pdf" }, "A receipt was attached in the bank.") },
      "Attach a receipt"),
      h("button", { type: "button", className: "secondary", onclick: () => change(
        { kind: "pdf", size_bytes: 3_100_000, file_name: "Scanned receipt.pdf" },
        "A 3.1 MB receipt was attached in the bank.") }, "Attach a 3.1 MB receipt")));
}
