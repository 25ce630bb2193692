// The console's shell: who the page acts as, which view shows, the notices, and keeping the status fresh.

import { api, ApiError, local, PEOPLE, savedSession, signIn } from "./api.js";
import { renderControls } from "./controls.js";
import { h, problemBox, replace } from "./dom.js";
import { enterExpenses, newExpensesState, renderExpenses } from "./expenses.js";
import { finishConnect, renderXeroPage } from "./xero-page.js";

const POLL_CLOSELY_MS = 2000; // while something is on its way (a feed being activated, a sync requested)
const POLL_MS = 10000;
const CLOSE_WATCH_MS = 60000;

const app = {
  session: null,
  businesses: [],
  connection: null,
  gate: null,
  chooser: null,
  linking: null,
  xeroAccounts: null,
  expenses: newExpensesState(),
  faults: [],
  controlsLog: [],
  controlsDone: 0, // local controls run to their end (successfully or not): tests wait on it
  view: "xero",
  closeUntil: 0,

  business() {
    return this.businesses.find((b) => b.business_id === (this.session && this.session.business_id));
  },

  render() {
    document.getElementById("xero-view").hidden = this.view !== "xero";
    document.getElementById("expenses-view").hidden = this.view !== "expenses";
    if (this.view === "xero") renderXeroPage(this, document.getElementById("xero-view"));
    else renderExpenses(this, document.getElementById("expenses-view"));
    renderControls(this, document.getElementById("controls"));
  },

  // One notice at the top of the page: what the last action did, or why it did not.
  flash(content) {
    replace(document.getElementById("flash"), content);
  },

  fail(error, title) {
    if (!(error instanceof ApiError)) {
      console.error(error);
      this.flash(problemBox({ message: String(error) }, { title }));
      return;
    }
    const problem = error.problem;
    if (error.retryAfter && !problem.action) problem.action = `Try again in ${error.retryAfter} s.`;
    this.flash(problemBox(problem, { title }));
  },

  log(line) {
    this.controlsLog = [line, ...this.controlsLog].slice(0, 8);
    this.render();
  },

  async control(run) {
    try {
      this.log(await run());
      this.flash(null);
    } catch (error) {
      this.fail(error, "Local control");
    }
    await this.refresh();
    this.controlsDone += 1;
    this.render();
  },

  watchClosely() {
    this.closeUntil = Date.now() + CLOSE_WATCH_MS;
    schedulePoll(POLL_CLOSELY_MS);
  },

  go(view) {
    window.location.hash = `#/${view}`;
  },

  async refresh() {
    await loadStatus();
    this.render();
  },
};

// The connection (any user of the business may read it) and whether Sync expenses is open to this user.
async function loadStatus() {
  const [connection, gate, faults] = await Promise.allSettled([
    api("GET", "/v1/xero/connection"), api("GET", "/v1/expenses/mappings"), local("GET", "/_local/xero/faults")]);
  if (connection.status === "fulfilled") {
    app.connection = connection.value;
  } else {
    app.connection = null;
    app.fail(connection.reason, "Xero connection");
  }
  if (gate.status === "fulfilled") {
    app.expenses.mappings = gate.value;
    app.gate = { available: true, problem: null };
  } else if (gate.reason instanceof ApiError) {
    app.gate = { available: false, problem: gate.reason.problem };
  } else {
    throw gate.reason;
  }
  app.faults = faults.status === "fulfilled" ? faults.value : [];
}

// ------------------------------------------------------------------------------------------- polling

let pollTimer = null;

function schedulePoll(delay) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(poll, delay);
}

function somethingMoving() {
  const accounts = (app.connection && app.connection.accounts) || [];
  return Date.now() < app.closeUntil || accounts.some((a) => a.link && a.link.status === "PENDING");
}

async function poll() {
  // Never under the user's hands: not while a form of the Xero page is open or a dialog shows.
  const busy = app.linking || app.chooser || document.querySelector("dialog[open]");
  if (app.view === "xero" && !busy && document.visibilityState === "visible") {
    await loadStatus();
    if (!app.linking && !document.querySelector("dialog[open]")) app.render();
  }
  schedulePoll(somethingMoving() ? POLL_CLOSELY_MS : POLL_MS);
}

// --------------------------------------------------------------------------------------- who acts

function sessionPicker() {
  const form = document.getElementById("session");
  const business = h("select", { id: "business", name: "business" },
    app.businesses.map((b) => h("option", { value: b.business_id, selected: b.business_id === app.session.business_id },
      `${b.legal_name} (${b.incorporation_country})`)));
  const role = h("select", { id: "role", name: "role" },
    Object.entries(PEOPLE).map(([name, person]) => h("option", { value: name, selected: name === app.session.role },
      `${name} (${person.name})`)));
  replace(form,
    h("label", {}, "Business ", business),
    h("label", {}, "Role ", role));
  form.addEventListener("change", async () => {
    await actAs(business.value, role.value);
    app.flash(null);
    app.go("xero");
    await app.refresh();
  });
}

async function actAs(businessId, role) {
  app.session = await signIn(businessId, role);
  app.connection = null;
  app.gate = null;
  app.chooser = null;
  app.linking = null;
  app.expenses = newExpensesState();
}

// ------------------------------------------------------------------------------------------- views

async function route() {
  const view = window.location.hash.startsWith("#/expenses") ? "expenses" : "xero";
  app.view = view;
  document.getElementById("main").focus({ preventScroll: true });
  if (view === "expenses") {
    app.render();
    await enterExpenses(app);
  } else {
    await app.refresh();
  }
}

async function start() {
  const { businesses } = await local("GET", "/_local/ledger/businesses");
  app.businesses = businesses;
  if (businesses.length === 0) {
    app.flash(problemBox({ message: "The bank's ledger has no business yet.",
      action: "Start the stack with `make console` (seeded), or create one through /_local/ledger/businesses." }));
    return;
  }
  const saved = savedSession();
  const known = saved && businesses.some((b) => b.business_id === saved.business_id) && PEOPLE[saved.role];
  await actAs(known ? saved.business_id : businesses[0].business_id, known ? saved.role : "Finance");
  sessionPicker();
  if (window.location.pathname === "/xero/callback") {
    const params = new URLSearchParams(window.location.search);
    window.history.replaceState(null, "", "/console/#/xero");
    await finishConnect(app, params);
  }
  window.addEventListener("hashchange", route);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") schedulePoll(0);
  });
  await route();
  document.body.dataset.ready = "true";
  schedulePoll(somethingMoving() ? POLL_CLOSELY_MS : POLL_MS);
}

start().catch((error) => {
  console.error(error);
  app.flash(problemBox({ message: `The console could not start: ${error.message}` }));
});
