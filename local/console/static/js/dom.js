// Small DOM helpers: elements are built, never parsed from strings, so no value from the API is ever HTML.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "className") {
      element.className = value;
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name === "value" || name === "checked" || name === "selected") {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

// Like Element.append, but null, undefined and false add nothing (so a condition can stand in a list).
export function append(element, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// A control with a label of its own (label[for]), so its accessible name is the label alone.
let labelled_count = 0;
export function field(text, control, className = "field") {
  if (!control.id) {
    labelled_count += 1;
    control.id = `field-${labelled_count}`;
  }
  return h("span", { className }, h("label", { for: control.id }, text), " ", control);
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

// Dates and times in the viewer's own time zone, to the second: "the date and time of the last sync".
const DATE_TIME = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeStyle: "medium" });
const DATE = new Intl.DateTimeFormat("en-GB", { dateStyle: "medium", timeZone: "UTC" });

export function when(iso) {
  if (!iso) return null;
  return h("time", { datetime: iso }, DATE_TIME.format(new Date(iso)));
}

export function day(isoDate) {
  if (!isoDate) return "";
  return DATE.format(new Date(`${isoDate}T00:00:00Z`));
}

export function money(amount, currency) {
  const number = Number(amount);
  const shown = Number.isFinite(number)
    ? number.toLocaleString("en-GB", { minimumFractionDigits: 2, maximumFractionDigits: 2 })
    : amount;
  return `${currency} ${shown}`;
}

export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

// A problem the API explained: its sentence and, when there is one, the way out.
export function problemBox(problem, { title = null, kind = "error" } = {}) {
  return h("div", { className: `notice ${kind}`, role: kind === "error" ? "alert" : "status" },
    title ? h("strong", {}, title) : null,
    h("p", { className: "message" }, problem.message),
    problem.action ? h("p", { className: "action" }, problem.action) : null);
}

export function badge(text, kind = "neutral") {
  return h("span", { className: `badge ${kind}` }, text);
}

// What the user has typed or chosen in a form outlives the form: the page is redrawn from the API's answers
// (after an action, a poll or a local control), and a half-filled form must come back as it was left.
const drafts = new Map();

export function remember(form, key) {
  const saved = drafts.get(key);
  if (saved) {
    for (const element of form.elements) {
      if (!element.name || !saved.has(element.name)) continue;
      const value = saved.get(element.name);
      if (element.type === "checkbox") element.checked = value === true;
      else if (element.type === "radio") element.checked = element.value === value;
      else if (element.tagName === "SELECT" && ![...element.options].some((o) => o.value === value)) continue;
      else element.value = value;
    }
  }
  const save = () => {
    const values = new Map();
    for (const element of form.elements) {
      if (!element.name) continue;
      if (element.type === "checkbox") values.set(element.name, element.checked);
      else if (element.type === "radio") {
        if (element.checked) values.set(element.name, element.value);
      } else values.set(element.name, element.value);
    }
    drafts.set(key, values);
  };
  form.addEventListener("input", save);
  form.addEventListener("change", save);
  return form;
}

export function forget(key) {
  drafts.delete(key);
}
