// The Xero page: connect (through Xero's consent page), the linked accounts with their feed state and last sync,
// Sync now, Manage Connection -> Disconnect Xero, the reconnect prompt, and the way into Sync expenses.

import { api, ApiError } from "./api.js";
import { append, badge, forget, h, isoDay, problemBox, remember, replace, when } from "./dom.js";

const CONNECTING_KEY = "xero-console.connecting";
const FEED_STATES = {
  ACTIVE: ["Active", "ok"],
  PENDING: ["Pending", "wait"],
  REJECTED: ["Rejected", "bad"],
  UNLINKED: ["Unlinked", "neutral"],
  DISCONNECTED: ["Disconnected", "neutral"],
};
const CONNECTION_STATES = {
  ACTIVE: ["Connected", "ok"],
  NEEDS_RECONNECT: ["Needs reconnecting", "bad"],
  DISCONNECTED: ["Disconnected", "neutral"],
};
const DEFAULT_HISTORY_DAYS = 30;
const MAX_HISTORY_DAYS = 365; // Xero takes bank statement lines from the last 365 days (docs/auto-sync.md)

export function renderXeroPage(app, container) {
  const status = app.connection;
  const connection = status && status.connection;
  replace(container,
    h("h1", {}, "Xero"),
    app.chooser ? chooser(app) : null,
    connectionCard(app, status, connection),
    accountsCard(app, status, connection),
    syncExpensesCard(app));
}

// ------------------------------------------------------------------------------------------ connection

function connectionCard(app, status, connection) {
  const canManage = Boolean(status && status.can_manage);
  const live = connection && connection.status !== "DISCONNECTED";
  const [label, kind] = connection ? CONNECTION_STATES[connection.status] || [connection.status, "neutral"]
    : ["Not connected", "neutral"];
  const card = h("section", { className: "card", "aria-labelledby": "connection-title" },
    h("div", { className: "card-head" },
      h("h2", { id: "connection-title" }, "Connection"),
      h("div", { className: "actions" },
        live && canManage && connection.status === "ACTIVE" && status.accounts.some(
          (a) => a.link && ["ACTIVE", "PENDING"].includes(a.link.status))
          ? h("button", { type: "button", onclick: () => syncNow(app) }, "Sync now") : null,
        live && canManage
          ? h("button", { type: "button", className: "secondary", onclick: () => openManage(app) },
            "Manage Connection") : null)),
    h("p", { className: "status-line" }, "Status: ", h("span", { id: "connection-status" }, badge(label, kind))));

  if (live) {
    append(card, h("dl", { className: "facts" },
      fact("Organisation", `${connection.organisation_name}`),
      fact("Edition", `${titleCase(connection.edition || "")} Edition, base currency ${connection.base_currency}`),
      fact("Last sync", h("span", { id: "last-sync" }, when(connection.last_sync_at) || "Not yet")),
      fact("Connected", [when(connection.connected_at), ` by ${connection.connected_by}`])));
    if (connection.status === "NEEDS_RECONNECT") {
      append(card, h("div", { className: "notice error", role: "alert", id: "reconnect-prompt" },
        h("strong", {}, "Xero has disconnected this business."),
        h("p", { className: "message" }, connection.status_reason || "The connection to Xero needs to be renewed."),
        connection.action ? h("p", { className: "action" }, connection.action) : null,
        canManage ? h("button", { type: "button", onclick: () => startConnect(app) }, "Reconnect to Xero") : null));
    }
    if (connection.cleanup_pending) {
      append(card, h("p", { className: "hint" }, "Xero is still removing the previous connection's feeds; "
        + "this finishes by itself."));
    }
  } else {
    append(card,
      h("p", {}, "Connect this business to its Xero organisation (Business Edition, active) to send every "
        + "transaction of its linked accounts to Xero every 3 hours."),
      connection ? h("p", { className: "hint" }, connection.status_reason || "Disconnected from Xero.",
        " Mappings, expenses and each account's sync history are kept for when you connect again.") : null,
      canManage
        ? h("button", { type: "button", className: "primary", onclick: () => startConnect(app) }, "Connect Now")
        : null);
  }
  if (status && !canManage) {
    append(card, h("p", { className: "hint", id: "read-only" },
      "You can see the connection; only Admin and Finance users can change it."));
  }
  return card;
}

function fact(term, value) {
  return [h("dt", {}, term), h("dd", {}, value)];
}

function titleCase(text) {
  return text ? text.charAt(0) + text.slice(1).toLowerCase() : "";
}

async function syncNow(app) {
  try {
    const accepted = await api("POST", "/v1/xero/sync");
    app.flash(h("div", { className: "notice ok", role: "status" },
      h("p", { className: "message" }, `Sync requested for ${accepted.account_ids.length} linked account(s) at `,
        when(accepted.requested_at), "."),
      h("p", { className: "action" }, "Sync now can be used again after ", when(accepted.next_sync_now_at),
        "; accounts also sync on their own every 3 hours.")));
    app.watchClosely();
  } catch (error) {
    app.fail(error, "Sync now");
  }
}

// --------------------------------------------------------------------------------------------- connect

export async function startConnect(app) {
  try {
    const started = await api("POST", "/v1/xero/connect");
    sessionStorage.setItem(CONNECTING_KEY, JSON.stringify({ business_id: app.session.business_id }));
    window.location.assign(started.authorize_url);
  } catch (error) {
    app.fail(error, "Not connected");
  }
}

// Xero's consent page sends the browser back to /xero/callback with code and state (or error).
export async function finishConnect(app, params) {
  sessionStorage.removeItem(CONNECTING_KEY);
  if (params.get("error")) {
    app.flash(problemBox({
      message: params.get("error") === "access_denied" ? "Xero access was not granted (Cancel on Xero's page)."
        : `Xero answered: ${params.get("error")}.`,
      action: "Click Connect Now to try again.",
    }, { title: "Not connected" }));
    return;
  }
  try {
    const outcome = await api("POST", "/v1/xero/connect/complete",
      { code: params.get("code") || "", state: params.get("state") || "" });
    onOutcome(app, outcome);
  } catch (error) {
    app.fail(error, "Not connected");
  }
}

function onOutcome(app, outcome) {
  if (outcome.status === "CHOOSE_ORGANISATION") {
    app.chooser = outcome.organisations;
    app.flash(null);
    return;
  }
  app.chooser = null;
  app.flash(h("div", { className: "notice ok", role: "status" },
    h("p", { className: "message" }, `Connected to ${outcome.connection.organisation_name}.`),
    h("p", { className: "action" }, "Link your bank accounts below to send their transactions to Xero.")));
}

function chooser(app) {
  const form = h("form", { "aria-labelledby": "choose-title" },
    h("fieldset", {},
      h("legend", {}, "Organisations you gave access to"),
      app.chooser.map((organisation, index) => h("label", { className: "choice" },
        h("input", { type: "radio", name: "tenant_id", value: organisation.tenant_id, checked: index === 0 }),
        ` ${organisation.name}`))),
    h("button", { type: "submit", className: "primary" }, "Connect this organisation"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const tenant_id = new FormData(form).get("tenant_id");
    try {
      onOutcome(app, await api("POST", "/v1/xero/connect/organisation", { tenant_id }));
    } catch (error) {
      app.chooser = null;
      app.fail(error, "Not connected");
    }
    await app.refresh();
  });
  return h("section", { className: "card highlight" },
    h("h2", { id: "choose-title" }, "Choose the Xero organisation"),
    h("p", {}, "Xero gave access to several organisations. This business connects to one of them; "
      + "the others are disconnected again."),
    form);
}

// -------------------------------------------------------------------------------------------- accounts

function accountsCard(app, status, connection) {
  const accounts = (status && status.accounts) || [];
  const canLink = Boolean(status && status.can_manage && connection && connection.status === "ACTIVE");
  const rows = [];
  for (const account of accounts) {
    rows.push(accountRow(app, account, canLink));
    const link = account.link;
    const trouble = link && (link.status_reason || link.last_sync_error || link.action);
    if (trouble) {
      rows.push(h("tr", { className: "detail", dataset: { accountId: account.account_id } },
        h("td", { colspan: 6 }, problemBox({
          message: link.last_sync_error || link.status_reason,
          action: link.action,
        }, { kind: link.status === "ACTIVE" && !link.last_sync_error ? "info" : "warn" }))));
    }
    if (app.linking === account.account_id) {
      rows.push(h("tr", { className: "detail" }, h("td", { colspan: 6 }, linkForm(app, account))));
    }
  }
  return h("section", { className: "card", "aria-labelledby": "accounts-title" },
    h("h2", { id: "accounts-title" }, "Bank accounts"),
    accounts.length === 0 ? h("p", {}, "This business has no bank accounts.") :
      h("table", { id: "accounts" },
        h("caption", { className: "visually-hidden" }, "Bank accounts and their Xero bank feeds"),
        h("thead", {}, h("tr", {},
          ["Bank account", "Currency", "Xero bank account", "Bank feed", "Last sync", ""].map(
            (title) => h("th", { scope: "col" }, title)))),
        h("tbody", {}, rows)));
}

function accountRow(app, account, canLink) {
  const link = account.link;
  const [label, kind] = link ? FEED_STATES[link.status] || [link.status, "neutral"] : ["Not linked", "neutral"];
  const live = link && ["ACTIVE", "PENDING"].includes(link.status);
  return h("tr", { dataset: { accountId: account.account_id }, "aria-label": `${account.name} ${account.currency}` },
    h("th", { scope: "row" }, account.name, h("div", { className: "sub" }, account.account_number)),
    h("td", {}, account.currency),
    h("td", {}, link && link.xero_account_name ? link.xero_account_name : link && link.xero_account_id ? "(chosen)" : "—"),
    h("td", { className: "feed-state" }, badge(label, kind)),
    h("td", { className: "last-sync" }, link && link.last_sync_at ? when(link.last_sync_at) : "Not yet"),
    h("td", { className: "row-actions" },
      canLink && !live && app.linking !== account.account_id
        ? h("button", { type: "button", onclick: () => openLinkForm(app, account) },
          link ? "Link again" : "Link to Xero") : null,
      canLink && live ? h("button", { type: "button", className: "link", onclick: () => unlink(app, account) },
        "Unlink") : null));
}

async function openLinkForm(app, account) {
  try {
    app.xeroAccounts = (await api("GET", "/v1/xero/bank-accounts")).accounts;
  } catch (error) {
    app.fail(error, "Link to Xero");
    return;
  }
  app.linking = account.account_id;
  app.flash(null);
  app.render();
  const first = document.querySelector("#link-form select, #link-form input[name=name]");
  if (first) first.focus();
}

function linkForm(app, account) {
  const candidates = (app.xeroAccounts || []).filter((a) => a.currency_code === account.currency);
  const remembered = account.link && account.link.xero_account_id;
  const today = new Date();
  const earliest = new Date(today.getTime() - MAX_HISTORY_DAYS * 86400000);
  const usual = new Date(today.getTime() - DEFAULT_HISTORY_DAYS * 86400000);
  const error = h("div", { className: "form-error" });
  const existing = candidates.length > 0;
  const draft = `link:${account.account_id}`;
  const form = h("form", { id: "link-form", "aria-label": `Link ${account.name} to Xero` },
    h("fieldset", {},
      h("legend", {}, `Feed ${account.name} (${account.currency}) into`),
      h("label", { className: "choice" },
        h("input", { type: "radio", name: "target", value: "existing", checked: existing, disabled: !existing }),
        " An existing Xero bank account"),
      existing ? h("div", { className: "inline-fields indent" },
        h("label", { for: "link-xero-account" }, "Xero bank account"),
        h("select", { name: "xero_account_id", id: "link-xero-account" },
          candidates.map((c) => h("option", { value: c.account_id, selected: c.account_id === remembered },
            `${c.name}${c.bank_account_number ? ` (${c.bank_account_number})` : ""}`
            + `${c.linked ? " — already fed by a bank account" : ""}`))))
        : h("p", { className: "hint indent" }, `Xero has no ${account.currency} bank account yet.`),
      h("label", { className: "choice" },
        h("input", { type: "radio", name: "target", value: "new", checked: !existing }),
        " A new Xero bank account"),
      h("div", { className: "inline-fields indent" },
        h("label", {}, "Name ", h("input", { name: "name", maxlength: 30, value: account.name.slice(0, 30) })),
        h("label", {}, "Number ", h("input", { name: "number", maxlength: 40, value: account.account_number })))),
    h("label", {}, "Send history from ",
      h("input", { type: "date", name: "backfill_from", min: isoDay(earliest), max: isoDay(today),
        value: isoDay(usual) })),
    h("div", { className: "actions" },
      h("button", { type: "submit", className: "primary" }, "Link account"),
      h("button", { type: "button", className: "secondary", onclick: () => {
        app.linking = null;
        forget(draft);
        app.render();
      } }, "Cancel")),
    error);
  remember(form, draft);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { backfill_from: data.get("backfill_from") || null };
    if (data.get("target") === "existing") body.xero_account_id = data.get("xero_account_id");
    else body.new_account = { name: data.get("name"), number: data.get("number") };
    try {
      await api("PUT", `/v1/bank-accounts/${encodeURIComponent(account.account_id)}/feed`, body);
      app.linking = null;
      forget(draft);
      app.flash(h("div", { className: "notice ok", role: "status" },
        h("p", { className: "message" }, `${account.name} is linked; Xero activates its bank feed in a moment.`)));
      app.watchClosely();
      await app.refresh();
    } catch (failure) {
      if (!(failure instanceof ApiError)) throw failure;
      replace(error, problemBox(failure.problem, { title: "Not linked" }));
    }
  });
  return form;
}

async function unlink(app, account) {
  try {
    await api("DELETE", `/v1/bank-accounts/${encodeURIComponent(account.account_id)}/feed`);
    app.flash(h("div", { className: "notice ok", role: "status" },
      h("p", { className: "message" }, `${account.name} no longer feeds Xero.`)));
  } catch (error) {
    app.fail(error, "Unlink");
  }
  await app.refresh();
}

// ------------------------------------------------------------------------- Manage Connection, disconnect

function openManage(app) {
  const connection = app.connection.connection;
  const dialog = document.getElementById("manage-dialog");
  replace(dialog,
    h("div", { className: "dialog-head" },
      h("h2", { id: "manage-title" }, "Manage Connection"),
      h("button", { type: "button", className: "danger", onclick: () => confirmDisconnect(app) }, "Disconnect Xero")),
    h("dl", { className: "facts" },
      fact("Organisation", connection.organisation_name),
      fact("Xero tenant", connection.tenant_id),
      fact("Edition", `${titleCase(connection.edition || "")} Edition`),
      fact("Country", connection.country_code || "—"),
      fact("Base currency", connection.base_currency),
      fact("Connected", [when(connection.connected_at), ` by ${connection.connected_by}`]),
      fact("Last sync", when(connection.last_sync_at) || "Not yet")),
    h("div", { className: "actions" },
      h("button", { type: "button", className: "secondary", onclick: () => dialog.close() }, "Close")));
  dialog.showModal();
}

function confirmDisconnect(app) {
  const dialog = document.getElementById("confirm-dialog");
  const name = app.connection.connection.organisation_name;
  replace(dialog,
    h("h2", { id: "confirm-title" }, "Disconnect Xero?"),
    h("p", {}, `This business stops sending its transactions to ${name}. Its bank feeds are removed from Xero; `
      + "mappings, expenses and each account's sync history are kept, so connecting again finds them."),
    h("div", { className: "actions" },
      h("button", { type: "button", className: "secondary", onclick: () => dialog.close() }, "Cancel"),
      h("button", { type: "button", className: "danger", onclick: () => disconnect(app, dialog) }, "YES, DISCONNECT")));
  dialog.showModal();
}

async function disconnect(app, dialog) {
  try {
    const gone = await api("DELETE", "/v1/xero/connection");
    dialog.close();
    document.getElementById("manage-dialog").close();
    app.flash(h("div", { className: "notice ok", role: "status" },
      h("p", { className: "message" }, `Your Xero account is now disconnected (${gone.organisation_name}).`)));
  } catch (error) {
    dialog.close();
    app.fail(error, "Disconnect Xero");
  }
  await app.refresh();
}

// ------------------------------------------------------------------------------------- Sync expenses card

function syncExpensesCard(app) {
  const gate = app.gate || { available: false, problem: null };
  return h("section", { className: "card", "aria-labelledby": "expenses-card-title" },
    h("h2", { id: "expenses-card-title" }, "Sync expenses"),
    h("p", {}, "Send outbound payments to Xero as Spend Money transactions, with the Xero account, tax rate, "
      + "tracking categories and receipts."),
    h("button", { type: "button", className: "primary", disabled: !gate.available,
      "aria-describedby": gate.available ? null : "expenses-unavailable",
      onclick: () => app.go("expenses") }, "Sync an Expense"),
    !gate.available && gate.problem
      ? h("div", { id: "expenses-unavailable" }, problemBox(gate.problem,
        { title: "Sync expenses is not available", kind: "info" })) : null);
}
