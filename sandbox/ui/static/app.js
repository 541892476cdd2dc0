// The dashboard's shell: the view list, the route in the URL hash, the tenant bar.
// A view is a module exporting `render(root, context)`; it may return a function that stops
// whatever it started (polling). Adding a view is a new `view-<name>.js` and one line in VIEWS.

import { get, tenantPath, ApiFailure } from "./api.js";
import { h, replace, failure, formatTime } from "./dom.js";
import * as tenants from "./view-tenants.js";
import * as records from "./view-records.js";
import * as journal from "./view-journal.js";
import * as clock from "./view-clock.js";
import * as faults from "./view-faults.js";
import * as webhooks from "./view-webhooks.js";
import * as coverage from "./view-coverage.js";
import * as snapshots from "./view-snapshots.js";

const VIEWS = [
  { id: "tenants", title: "Tenants", module: tenants, perTenant: false },
  { id: "records", title: "Records", module: records, perTenant: true },
  { id: "journal", title: "Journal", module: journal, perTenant: true },
  { id: "clock", title: "Clock", module: clock, perTenant: true },
  { id: "faults", title: "Faults", module: faults, perTenant: true },
  { id: "webhooks", title: "Webhooks", module: webhooks, perTenant: true },
  { id: "coverage", title: "Coverage", module: coverage, perTenant: true },
  { id: "snapshots", title: "Snapshots", module: snapshots, perTenant: true },
];

let stop = null;
let refreshBar = null;

// Routes: #/tenants, #/t/<credential>/<view>[/<more>...][?query]
export function parseRoute(hash) {
  const [path, query = ""] = hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  if (parts[0] === "t" && parts.length >= 2) {
    return { credential: parts[1], view: parts[2] || "records", rest: parts.slice(3), params };
  }
  return { credential: null, view: "tenants", rest: [], params };
}

export function link(credential, view, rest = [], params = null) {
  const parts = credential ? ["t", credential, view, ...rest] : [view];
  const query = params && String(params) ? `?${params}` : "";
  return "#/" + parts.map(encodeURIComponent).join("/") + query;
}

export function navigate(credential, view, rest = [], params = null) {
  const target = link(credential, view, rest, params);
  if (location.hash === target) show();  // the same place again: draw it anew
  else location.hash = target;
}

function renderNav(route) {
  const nav = document.getElementById("views");
  replace(nav, VIEWS.map((view) => {
    const needsTenant = view.perTenant && !route.credential;
    const href = view.perTenant ? (route.credential ? link(route.credential, view.id) : "#/tenants") : link(null, view.id);
    return h("a", {
      href, class: needsTenant ? "disabled" : null, "aria-disabled": needsTenant ? "true" : null,
      "aria-current": route.view === view.id ? "page" : null,
    }, view.title);
  }));
}

async function tenantBar(credential) {
  const bar = h("div", { class: "tenant-bar", "aria-live": "polite" });
  const fill = () => get(tenantPath(credential)).then((summary) => {
    const counts = Object.entries(summary.providers)
      .map(([name, collections]) => `${name}: ${Object.values(collections).reduce((a, b) => a + b, 0)}`);
    replace(bar, h("span", {}, "Tenant ", h("strong", {}, credential)),
      h("span", {}, "Clock ", h("strong", {}, formatTime(summary.clock.now)), " ",
        h("span", { class: `badge ${summary.clock.frozen ? "frozen" : ""}` }, summary.clock.frozen ? "frozen" : "running")),
      h("span", {}, `${summary.calls} call(s)`),
      h("span", {}, counts.length ? `Records ${counts.join(", ")}` : "No provider used yet"));
  }).catch((error) => replace(bar, h("span", {}, "Tenant ", h("strong", {}, credential)), failure(error)));
  replace(bar, h("span", {}, "Tenant ", h("strong", {}, credential)));
  fill();
  return { bar, fill };
}


async function show() {
  if (stop) { stop(); stop = null; }
  const route = parseRoute(location.hash);
  const view = VIEWS.find((v) => v.id === route.view) || VIEWS[0];
  renderNav(route);
  const main = document.getElementById("main");
  const input = document.getElementById("credential");
  if (route.credential && document.activeElement !== input) input.value = route.credential;
  const root = h("section", { "aria-label": view.title });
  const summary = view.perTenant && route.credential ? await tenantBar(route.credential) : null;
  if (refreshBar) document.removeEventListener("tenant-changed", refreshBar);
  refreshBar = summary ? summary.fill : null;
  if (refreshBar) document.addEventListener("tenant-changed", refreshBar);
  replace(main, summary ? summary.bar : null, root);
  if (view.perTenant && !route.credential) {
    navigate(null, "tenants");
    return;
  }
  const context = { ...route, navigate, link };
  try {
    stop = (await view.module.render(root, context)) || null;
  } catch (error) {
    if (!(error instanceof ApiFailure)) throw error;
    root.append(failure(error));
  }
}

document.getElementById("open-tenant").addEventListener("submit", (event) => {
  event.preventDefault();
  const credential = document.getElementById("credential").value.trim();
  if (credential) navigate(credential, "records");
});
window.addEventListener("hashchange", show);
show();
