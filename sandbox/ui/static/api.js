// Every call the dashboard makes goes through here, to the admin API (specs/sandbox.yaml).
// When the API answers 401 the user is asked for the admin token, which is kept for the
// browser tab (sessionStorage) and sent as `Authorization: Bearer <token>`.

const BASE = "/__sandbox";
const TOKEN_KEY = "sandbox-admin-token";

export class ApiFailure extends Error {
  constructor(status, body) {
    const error = body && body.error ? body.error : {};
    super(error.message || `The admin API answered ${status}.`);
    this.status = status;
    this.error = error;
  }
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function askForToken(reason) {
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token");
  document.getElementById("token-reason").textContent = reason;
  input.value = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok" ? input.value : null), { once: true });
    dialog.showModal();
    input.focus();
  });
}

async function send(method, path, body, contentType) {
  const headers = { Accept: "application/json", ...authHeaders() };
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = contentType || "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  return fetch(BASE + path, { method, headers, body: payload });
}

export async function call(method, path, { body, contentType } = {}) {
  let response = await send(method, path, body, contentType);
  while (response.status === 401) {
    const parsed = await response.json().catch(() => null);
    const reason = (parsed && parsed.error && parsed.error.message) || "The admin API needs a token.";
    const token = await askForToken(reason);
    if (token === null) throw new ApiFailure(401, parsed);
    sessionStorage.setItem(TOKEN_KEY, token);
    response = await send(method, path, body, contentType);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  const parsed = text && (response.headers.get("content-type") || "").includes("json") ? JSON.parse(text) : text;
  if (!response.ok) throw new ApiFailure(response.status, parsed);
  return parsed;
}

export const get = (path) => call("GET", path);
export const post = (path, body, contentType) => call("POST", path, { body, contentType });
export const put = (path, body) => call("PUT", path, { body });
export const del = (path) => call("DELETE", path);

// `/tenants/{credential}` with every segment encoded.
export function tenantPath(credential, ...rest) {
  return ["/tenants", credential, ...rest].map((part, i) => (i === 0 ? part : encodeURIComponent(part))).join("/");
}

// A view that changed the tenant (its clock, its records) says so; the tenant bar then reads it again.
export function tenantChanged() {
  document.dispatchEvent(new Event("tenant-changed"));
}
