// The HTTP API as a frontend calls it (Authorization: Bearer <the user's token>), and the local helpers.

const SESSION_KEY = "xero-console.session";

// One person per role, as the demo's users: the token's subject.
export const PEOPLE = {
  Admin: { user_id: "u_ada", name: "Ada" },
  Finance: { user_id: "u_fiona", name: "Fiona" },
  Employee: { user_id: "u_eric", name: "Eric" },
};

export class ApiError extends Error {
  constructor(status, body, headers) {
    const detail = (body && body.error) || {};
    super(detail.message || (body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = detail.code || null;
    this.action = detail.action || null;
    this.details = detail.details || null;
    this.correlationId = (body && body.correlation_id) || null;
    this.retryAfter = headers ? headers.get("Retry-After") : null;
  }

  get problem() {
    return { code: this.code, message: this.message, action: this.action };
  }
}

let token = null;

export function savedSession() {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

// The bank's sign-in, played locally: a token for the business and role picked in the page.
export async function signIn(business_id, role) {
  const person = PEOPLE[role];
  const answer = await request("POST", "/_local/token", { business_id, user_id: person.user_id, role }, false);
  token = answer.token;
  const session = { business_id, role, user_id: person.user_id, name: person.name };
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  return session;
}

export function api(method, path, body = undefined, headers = {}) {
  return request(method, path, body, true, headers);
}

export function local(method, path, body = undefined) {
  return request(method, path, body, false);
}

async function request(method, path, body, authorised, extraHeaders = {}) {
  const headers = { Accept: "application/json", ...extraHeaders };
  if (authorised) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (!response.ok) throw new ApiError(response.status, data, response.headers);
  return data;
}
