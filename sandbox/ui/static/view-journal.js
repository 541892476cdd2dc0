// Journal: the tenant's calls, newest first, live while the view is open; filters; one call's
// request and response; copy as curl.

import { get, tenantPath, ApiFailure } from "./api.js";
import { h, replace, table, json, notice, failure, formatTime, statusClass } from "./dom.js";

const POLL_MS = 1000;
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

export async function render(root, { credential, params, navigate }) {
  const health = await get("/health");
  const filters = { provider: params.get("provider") || "", method: params.get("method") || "", status: params.get("status") || "" };
  const select = (name, label, options) => h("label", {}, `${label} `, h("select", { name, onchange: applyFilters },
    h("option", { value: "" }, "any"), options.map((o) => h("option", { value: o, selected: filters[name] === o }, o))));
  const status = h("input", { name: "status", type: "number", min: 0, max: 599, value: filters.status, size: 4, "aria-label": "Status" });
  const live = h("input", { type: "checkbox", id: "live", checked: true });
  const form = h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); applyFilters(); } },
    select("provider", "Provider", health.providers), select("method", "Method", METHODS),
    h("label", {}, "Status ", status), h("button", { type: "submit" }, "Filter"),
    h("label", {}, live, " Live"));
  const list = h("div", { id: "journal-list" });
  const detail = h("div", { id: "call-detail" });
  root.append(h("h2", {}, "Journal"), form, h("div", { class: "split wide-right" }, list, detail));

  function applyFilters() {
    const next = new URLSearchParams();
    for (const element of form.elements) if (element.name && element.value) next.set(element.name, element.value);
    navigate(credential, "journal", [], next);
  }

  const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
  let shownLatest = null;
  let selected = null;
  let timer = null;
  let stopped = false;

  async function load() {
    try {
      const { requests } = await get(`${tenantPath(credential, "requests")}${String(query) ? `?${query}` : ""}`);
      const latest = requests.length ? requests[requests.length - 1].id : 0;
      if (latest !== shownLatest || requests.length !== list.count) {
        shownLatest = latest;
        list.count = requests.length;
        draw(requests.slice().reverse());
      }
    } catch (error) {
      if (!(error instanceof ApiFailure)) throw error;
      replace(list, failure(error));
    }
    if (!stopped) timer = setTimeout(tick, POLL_MS);
  }
  function tick() { if (live.checked && !document.hidden) load(); else timer = setTimeout(tick, POLL_MS); }

  function draw(entries) {
    if (!entries.length) { replace(list, notice("ok", "No calls yet. They appear here as a client makes them.")); return; }
    replace(list, table([
      { title: "Time", cell: (e) => formatTime(e.time) },
      { title: "Status", class: "num", cell: (e) => h("span", { class: statusClass(e.status) }, e.status) },
      { title: "Call", cell: (e) => h("a", { href: "#", onclick: (event) => { event.preventDefault(); open(e); } }, `${e.method} ${e.path}`) },
      { title: "ms", class: "num", cell: (e) => e.duration_ms.toFixed(1) },
    ], entries, { caption: `${entries.length} call(s), newest first`, rowAttributes: (e) => ({ dataset: { id: e.id }, class: e.id === selected ? "selected" : null }) }));
  }

  function open(entry) {
    selected = entry.id;
    for (const row of list.querySelectorAll("tbody tr")) row.classList.toggle("selected", Number(row.dataset.id) === entry.id);
    const curl = h("textarea", { id: "curl", rows: 4, readonly: true, "aria-label": "The call as curl" }, asCurl(entry, credential));
    replace(detail, h("div", { class: "panel" },
      h("h3", {}, `${entry.method} ${entry.path}`),
      h("p", {}, `#${entry.id} · ${formatTime(entry.time)} · ${entry.provider} · ${entry.operation || "no operation matched"}`),
      h("h3", {}, "Request"),
      json({ method: entry.method, path: entry.path, query: entry.query, headers: entry.headers }),
      entry.body === null ? h("p", { class: "muted" }, "No body.") : h("pre", { class: "json", tabindex: 0 }, prettyBody(entry.body)),
      h("h3", {}, "Response"),
      h("p", {}, h("strong", { class: statusClass(entry.status) }, entry.status === 0 ? "dropped (no response)" : entry.status),
        ` in ${entry.duration_ms} ms`, entry.fault ? ` · injected by fault rule ${entry.fault}` : ""),
      entry.reason ? h("p", {}, h("strong", {}, "Refused: "), reasonText(entry.reason)) : null,
      entry.response === undefined ? h("p", { class: "muted" }, "The journal keeps the response's status and timing.")
        : json(entry.response),
      h("h3", {}, "As curl"), curl,
      h("div", { class: "row" }, h("button", { type: "button", onclick: async (event) => {
        curl.select();
        try { await navigator.clipboard.writeText(curl.value); event.target.textContent = "Copied"; }
        catch { event.target.textContent = "Selected: press Ctrl+C"; }
      } }, "Copy as curl"))));
  }

  await load();
  return () => { stopped = true; clearTimeout(timer); };
}

// Journals that say why a call was refused (a stage, a message, the field and rule) show it here.
function reasonText(reason) {
  if (typeof reason !== "object") return String(reason);
  const where = [reason.stage, reason.field && `field ${reason.field}`, reason.rule].filter(Boolean).join(", ");
  return `${reason.message || ""}${where ? ` (${where})` : ""}`;
}

function prettyBody(body) {
  try { return JSON.stringify(JSON.parse(body), null, 2); } catch { return body; }
}

const quote = (text) => `'${String(text).replace(/'/g, "'\\''")}'`;

// The journal masks credentials; the tenant's credential is known here, so it is put back.
export function asCurl(entry, credential) {
  const parts = ["curl", "-X", entry.method];
  for (const [name, value] of Object.entries(entry.headers)) {
    if (["host", "content-length", "connection", "accept-encoding", "user-agent"].includes(name)) continue;
    parts.push("-H", quote(`${name}: ${value.includes("****") ? unmasked(value, credential) : value}`));
  }
  if (entry.body !== null) parts.push("--data-binary", quote(entry.body));
  const url = `${location.origin}${entry.path}${entry.query ? `?${entry.query}` : ""}`;
  parts.push(quote(url));
  return parts.join(" ");
}

function unmasked(value, credential) {
  const [scheme, secret] = value.includes(" ") ? value.split(" ", 2) : ["", value];
  if (!secret.startsWith("****")) return value;
  if (scheme.toLowerCase() === "basic") return `Basic ${btoa(`${credential}:`)}`;
  return scheme ? `${scheme} ${credential}` : credential;
}
