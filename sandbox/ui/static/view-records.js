// Records: per provider and collection, a server-paged table with search; a record as formatted
// JSON; edit or add one (validated as a fixture record is, errors beside their field); delete;
// load a YAML fixture file by upload or paste.

import { get, post, put, del, tenantPath, ApiFailure } from "./api.js";
import { h, replace, table, json, notice, failure } from "./dom.js";

const PAGE = 50;

export async function render(root, context) {
  const { credential, rest, params, navigate } = context;
  const [health, tenant] = await Promise.all([get("/health"), get(tenantPath(credential))]);
  const provider = rest[0] || Object.keys(tenant.providers)[0] || health.providers[0];
  const collection = rest[1] || null;
  const listing = await get(tenantPath(credential, "records", provider));
  const current = collection || (listing.collections.find((c) => c.count) || listing.collections[0] || {}).name;

  const providerSelect = h("select", { id: "provider", onchange: (e) => navigate(credential, "records", [e.target.value]) },
    health.providers.map((name) => h("option", { value: name, selected: name === provider }, name)));
  const collections = h("ul", { class: "collections", "aria-label": "Collections" },
    listing.collections.map((c) => h("li", {}, h("a", {
      href: context.link(credential, "records", [provider, c.name]), "aria-current": c.name === current ? "true" : null,
    }, h("span", {}, c.name), h("span", {}, c.count)))));

  const detail = h("div", { id: "record-detail" });
  const tableArea = h("div", { "aria-live": "polite" });
  const search = h("input", { type: "search", id: "search", value: params.get("q") || "", placeholder: "Search values",
    "aria-label": `Search ${current}` });
  const offset = Number(params.get("offset") || 0);

  root.append(
    h("h2", {}, "Records"),
    h("div", { class: "split" },
      h("div", {}, h("label", { for: "provider" }, "Provider "), providerSelect, h("h3", {}, "Collections"), collections,
        h("div", { class: "row" }, h("button", { type: "button", onclick: () => showLoader(detail, credential, provider) }, "Load fixtures…"))),
      h("div", {},
        h("form", { class: "row", role: "search", onsubmit: (e) => {
          e.preventDefault();
          const next = new URLSearchParams(search.value ? { q: search.value } : {});
          navigate(credential, "records", [provider, current], next);
        } }, search, h("button", { type: "submit" }, "Search"),
        h("button", { type: "button", onclick: () => showEditor(detail, context, provider, current, null, templateFrom(tableArea)) }, "Add record")),
        tableArea, detail)));

  if (!current) return;
  await loadPage(tableArea, detail, context, provider, current, search.value, offset);
  if (rest[2] !== undefined) await showRecord(detail, context, provider, current, rest[2]);
}

function templateFrom(tableArea) {
  return tableArea.template || {};
}

async function loadPage(area, detail, context, provider, collection, q, offset) {
  const { credential, navigate } = context;
  const query = new URLSearchParams({ offset, limit: PAGE });
  if (q) query.set("q", q);
  const page = await get(`${tenantPath(credential, "records", provider, collection)}?${query}`);
  area.template = page.records.length ? page.records[0].record : {};
  const fields = columnsOf(page.records);
  const go = (to) => {
    const next = new URLSearchParams(q ? { q } : {});
    if (to) next.set("offset", to);
    navigate(credential, "records", [provider, collection], next);
  };
  const first = page.matched ? offset + 1 : 0;
  const last = Math.min(offset + page.records.length, page.matched);
  replace(area,
    h("div", { class: "row" },
      h("span", { id: "page-info" }, `${first}–${last} of ${page.matched}${q ? ` matching (of ${page.total})` : ""}`),
      h("button", { type: "button", disabled: offset === 0, onclick: () => go(Math.max(0, offset - PAGE)) }, "← Previous"),
      h("button", { type: "button", disabled: offset + PAGE >= page.matched, onclick: () => go(offset + PAGE) }, "Next →")),
    table([
      { title: "Key", cell: (r) => h("a", { href: "#", onclick: (e) => {
        e.preventDefault();
        markSelected(area, r.key);
        showRecord(detail, context, provider, collection, r.key);
      } }, r.key) },
      ...fields.map((name) => ({ title: name, cell: (r) => cellText(r.record[name]) })),
    ], page.records, { rowAttributes: (r) => ({ dataset: { key: r.key } }) }));
}

function markSelected(area, key) {
  for (const row of area.querySelectorAll("tbody tr")) row.classList.toggle("selected", row.dataset.key === key);
}

function columnsOf(rows) {
  const names = [];
  for (const row of rows.slice(0, 5)) {
    for (const [name, value] of Object.entries(row.record)) {
      if (!names.includes(name) && (value === null || typeof value !== "object")) names.push(name);
    }
  }
  return names.filter((n) => n !== "id").slice(0, 6);
}

function cellText(value) {
  if (value === null || value === undefined) return "null";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

async function showRecord(detail, context, provider, collection, key) {
  try {
    const found = await get(tenantPath(context.credential, "records", provider, collection, key));
    const internal = Object.keys(found.internal).length
      ? [h("h3", {}, "Sandbox bookkeeping (not on the wire)"), json(found.internal)] : [];
    replace(detail, h("div", { class: "panel" },
      h("h3", {}, `${collection} ${key}`),
      h("div", { class: "row" },
        h("button", { type: "button", class: "primary", onclick: () => showEditor(detail, context, provider, collection, key, found.record) }, "Edit"),
        h("button", { type: "button", class: "danger", onclick: (e) => remove(e.target, detail, context, provider, collection, key) }, "Delete")),
      json(found.record), internal));
    detail.querySelector("button").focus();
  } catch (error) {
    if (!(error instanceof ApiFailure)) throw error;
    replace(detail, failure(error));
  }
}

async function remove(button, detail, context, provider, collection, key) {
  if (button.dataset.armed !== "yes") {  // a second press confirms
    button.dataset.armed = "yes";
    button.textContent = `Really delete ${key}?`;
    return;
  }
  try {
    await del(tenantPath(context.credential, "records", provider, collection, key));
    context.navigate(context.credential, "records", [provider, collection], context.params);
  } catch (error) {
    if (!(error instanceof ApiFailure)) throw error;
    detail.prepend(failure(error));
  }
}

// One input per top-level field. A string field's text is the string; any other field's text is
// JSON (`null`, `12`, `{"a": 1}`), and text that is not JSON is taken as a string.
function showEditor(detail, context, provider, collection, key, record) {
  const adding = key === null;
  const rows = [];
  const grid = h("div", { class: "fields" });
  const addRow = (name, value) => {
    const id = `field-${rows.length}`;
    const input = h("input", { id, name, value: value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value),
      spellcheck: "false", dataset: { kind: typeof value === "string" ? "string" : "json" } });
    const error = h("div", { class: "field-error", id: `${id}-error`, "aria-live": "polite" });
    input.setAttribute("aria-describedby", error.id);
    rows.push({ name, input, error });
    grid.append(h("label", { for: id }, name), input, error);
  };
  for (const [name, value] of Object.entries(record || {})) addRow(name, adding && name === "id" ? "" : value);
  const newName = h("input", { "aria-label": "New field name", placeholder: "field name" });
  const general = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "panel", onsubmit: (e) => { e.preventDefault(); submit(); } },
    h("h3", {}, adding ? `New record in ${collection}` : `Edit ${collection} ${key}`),
    general, grid,
    h("div", { class: "row" }, newName, h("button", { type: "button", onclick: () => {
      if (newName.value && !rows.some((r) => r.name === newName.value)) { addRow(newName.value, null); newName.value = ""; }
    } }, "Add field")),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, adding ? "Add" : "Save"),
      h("button", { type: "button", onclick: () => adding ? replace(detail) : showRecord(detail, context, provider, collection, key) }, "Cancel")));
  replace(detail, form);
  (rows[0] ? rows[0].input : newName).focus();

  async function submit() {
    const value = {};
    for (const row of rows) value[row.name] = fieldValue(row.input);
    for (const row of rows) { row.error.textContent = ""; row.input.removeAttribute("aria-invalid"); }
    replace(general);
    const path = adding ? tenantPath(context.credential, "records", provider, collection)
      : tenantPath(context.credential, "records", provider, collection, key);
    try {
      const saved = adding ? await post(path, value) : await put(path, value);
      context.navigate(context.credential, "records", [provider, collection, saved.key], context.params);
    } catch (error) {
      if (!(error instanceof ApiFailure)) throw error;
      showProblems(error, rows, general);
    }
  }
}

function fieldValue(input) {
  const text = input.value;
  if (input.dataset.kind === "string") return text === "null" ? null : text;
  if (text.trim() === "") return null;
  try { return JSON.parse(text); } catch { return text; }
}

function showProblems(error, rows, general) {
  const unplaced = [];
  for (const problem of error.error.invalid || []) {
    const top = problem.field.split(/[.[]/)[0];
    const row = rows.find((r) => r.name === top);
    if (!row) { unplaced.push(`${problem.field}: ${problem.message}`); continue; }
    row.input.setAttribute("aria-invalid", "true");
    row.error.textContent = [row.error.textContent, problem.field === top ? problem.message : `${problem.field}: ${problem.message}`]
      .filter(Boolean).join("; ");
  }
  replace(general, notice("error", "Not saved: " + error.message.replace(/^.*?field '[^']*': /, ""), unplaced));
  const firstBad = rows.find((r) => r.input.getAttribute("aria-invalid"));
  if (firstBad) firstBad.input.focus();
}

function showLoader(detail, credential, provider) {
  const text = h("textarea", { id: "fixture-text", rows: 12, spellcheck: "false",
    placeholder: `${provider}:\n  collection:\n    - id: "1"\n      ...` });
  const file = h("input", { type: "file", id: "fixture-file", accept: ".yaml,.yml,.json,text/yaml,application/json",
    onchange: async () => { if (file.files[0]) text.value = await file.files[0].text(); } });
  const result = h("div", { "aria-live": "polite" });
  replace(detail, h("form", { class: "panel", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const answer = await post(tenantPath(credential, "fixtures"), text.value, "application/yaml");
      const counts = Object.entries(answer.loaded).flatMap(([p, cs]) => Object.entries(cs).map(([c, n]) => `${p}.${c}: ${n}`));
      replace(result, notice("ok", "Loaded.", counts));
    } catch (error) {
      if (!(error instanceof ApiFailure)) throw error;
      replace(result, notice("error", "Nothing loaded.", (error.error.problems || [error.message])));
    }
  } },
  h("h3", {}, "Load a fixture file"),
  h("p", { class: "muted" }, "YAML or JSON keyed by provider, the shape of fixtures/<provider>.yaml. Upload a file or paste it."),
  h("div", { class: "row" }, h("label", { for: "fixture-file" }, "File "), file),
  h("label", { for: "fixture-text" }, "Fixture text"), text,
  h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Load")), result));
  file.focus();
}
