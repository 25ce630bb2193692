// Local controls: the emulators and the schedules, so anyone can make things happen and watch the product
// recover. None of this is the product: it is what the bank's ledger, Xero and time would do.

import { local } from "./api.js";
import { field, h, remember, replace } from "./dom.js";

const PAYEES = [
  ["travel", "Grab"], ["travel", "Cathay Pacific"], ["software", "GitHub"], ["software", "Atlassian"],
  ["office_supplies", "Popular Bookstore"], ["advertising", "Google Asia Pacific"], ["entertainment", "Jumbo Seafood"],
];

export function renderControls(app, container) {
  const business = app.business();
  const accounts = (business && business.accounts) || [];
  const connection = app.connection && app.connection.connection;
  const tenant = connection && connection.status !== "DISCONNECTED" ? connection.tenant_id : null;
  replace(container,
    h("h2", { id: "controls-title" }, "Local controls"),
    h("p", { className: "hint" }, "These drive the emulators and the schedules, not the product."),
    ledgerControls(app, accounts),
    scheduleControls(app),
    xeroControls(app, tenant),
    h("div", { id: "controls-log", role: "log", "aria-live": "polite", "aria-label": "What the local controls did",
      dataset: { done: app.controlsDone } },
      app.controlsLog.map((line) => h("p", {}, line))));
}

function ledgerControls(app, accounts) {
  const form = h("form", { "aria-label": "Post ledger transactions" },
    field("Ledger account", h("select", { name: "account" },
      accounts.map((a) => h("option", { value: a.account_id }, `${a.name} (${a.currency})`)))),
    field("What", h("select", { name: "kind" },
      h("option", { value: "mixed" }, "Money in and out"),
      h("option", { value: "payments" }, "Payments out, categorised"))),
    field("How many", h("input", { type: "number", name: "count", min: 1, max: 200, value: 5 })),
    h("button", { type: "submit", className: "secondary" }, "Post transactions"));
  remember(form, "controls:ledger");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const account = data.get("account");
    const count = Math.max(1, Math.min(200, Number(data.get("count")) || 1));
    const base = `/_local/ledger/accounts/${encodeURIComponent(account)}/transactions`;
    await app.control(async () => {
      if (data.get("kind") === "mixed") {
        await local("POST", `${base}/generate`, { count });
      } else {
        for (let n = 0; n < count; n += 1) {
          const [category, payee] = PAYEES[n % PAYEES.length];
          await local("POST", base, {
            amount: `${(20 + Math.random() * 480).toFixed(2)}`, direction: "DEBIT", type: "CARD",
            counterparty: { name: payee }, reference: `CARD-${Date.now() % 100000}-${n}`,
            description: `${payee} (${category})`, spend_category: category,
          });
        }
      }
      return `Posted ${count} transaction(s) on the account in the bank's ledger.`;
    });
  });
  return h("details", { open: true }, h("summary", {}, "Bank ledger"), form);
}

function scheduleControls(app) {
  const fire = (name, label) => app.control(async () => {
    // As the schedule's next firing: a repeat of the last one would be (rightly) dropped as a duplicate.
    const answer = await local("POST", "/_local/schedules", { name, next: true });
    app.watchClosely();
    return `${label}: ${summarise(answer.result)}`;
  });
  return h("details", { open: true }, h("summary", {}, "Schedules"),
    h("div", { className: "stack" },
      h("button", { type: "button", className: "secondary",
        onclick: () => fire("EveryThreeHours", "3-hour auto-sync") }, "Run the 3-hour auto-sync now"),
      h("button", { type: "button", className: "secondary",
        onclick: () => fire("Hourly", "Hourly connection check") }, "Run the hourly connection check")));
}

function summarise(result) {
  if (!result || typeof result !== "object") return "done";
  const parts = Object.entries(result)
    .filter(([, value]) => ["number", "string", "boolean"].includes(typeof value))
    .slice(0, 5).map(([key, value]) => `${key.replaceAll("_", " ")} ${value}`);
  return parts.join(", ") || "done";
}

function xeroControls(app, tenant) {
  const faults = app.faults || [];
  const active = faults.filter((f) => !f.exhausted);
  const fault = (body, label) => app.control(async () => {
    await local("POST", "/_local/xero/faults", body);
    app.faults = await local("GET", "/_local/xero/faults");
    return label;
  });
  const bankAccounts = ((app.connection && app.connection.accounts) || [])
    .filter((a) => a.link && a.link.xero_account_id && ["ACTIVE", "PENDING"].includes(a.link.status));
  const deleteSelect = h("select", { "aria-label": "Bank account to delete in Xero", name: "xero_account_id" },
    bankAccounts.map((a) => h("option", { value: a.link.xero_account_id },
      `${a.link.xero_account_name || a.link.xero_account_id} (fed by ${a.name})`)));
  const deleteForm = remember(h("form", { className: "inline-fields", "aria-label": "Delete a bank account in Xero" },
    deleteSelect, h("button", { type: "submit", className: "secondary" }, "Delete in Xero")), "controls:delete");
  deleteForm.addEventListener("submit", (event) => {
    event.preventDefault();
    app.control(async () => {
      const answer = await local("DELETE",
        `/_local/xero/organisations/${tenant}/accounts/${encodeURIComponent(deleteSelect.value)}`);
      return `The bank account was deleted in Xero's chart of accounts (${answer.removed_feed_connections} bank `
        + "feed removed). The hourly connection check notices it.";
    });
  });
  return h("details", { open: true }, h("summary", {}, "Xero"),
    tenant ? null : h("p", { className: "hint" }, "Connect to Xero to use these."),
    h("div", { className: "stack" },
      h("button", { type: "button", className: "secondary", disabled: !tenant,
        onclick: () => fault({ kind: "error", status: 503, times: null, tenant },
          "Xero is down for the organisation (503 on every call) until faults are cleared.") },
      "Xero is down (503)"),
      h("button", { type: "button", className: "secondary", disabled: !tenant,
        onclick: () => fault({ kind: "rate_limit", problem: "minute", retry_after: 30, times: 3, tenant },
          "Xero rate-limits the organisation: the next 3 calls get 429 (Retry-After 30 s).") },
      "Rate-limit the organisation (429)"),
      h("button", { type: "button", className: "secondary", disabled: active.length === 0,
        onclick: () => app.control(async () => {
          await local("DELETE", "/_local/xero/faults");
          app.faults = [];
          return "Faults cleared: Xero answers normally again.";
        }) }, "Clear faults"),
      active.length ? h("ul", { id: "active-faults", "aria-label": "Active Xero faults" }, active.map((f) => h("li", {},
        `${f.kind}${f.kind === "error" ? ` ${f.status}` : ""}: fired ${f.fired}${f.times ? ` of ${f.times}` : ""}`)))
        : null,
      h("button", { type: "button", className: "secondary", disabled: !tenant,
        onclick: () => app.control(async () => {
          const answer = await local("POST", `/_local/xero/organisations/${tenant}/disconnect`, {});
          return `The app was disconnected in Xero (${answer.removed} connection(s) removed). The product notices `
            + "at its next call to Xero or at the hourly connection check.";
        }) }, "Disconnect the app in Xero"),
      bankAccounts.length ? deleteForm : null));
}
