// Coverage: which operations of each provider's spec the tenant's calls (or the whole server's) exercised,
// and which documented statuses they saw and did not see, with the totals the admin API computes.

import { get, tenantPath } from "./api.js";
import { h, table, notice, statusClass } from "./dom.js";

export async function render(root, { credential, params, navigate }) {
  const scope = params.get("scope") === "server" ? "server" : "tenant";
  const calledOnly = params.get("called") === "1";
  const coverage = scope === "server" ? await get("/coverage") : await get(tenantPath(credential, "coverage"));
  const reopen = (changes) => {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(changes)) { if (value) next.set(name, value); else next.delete(name); }
    navigate(credential, "coverage", [], next);
  };
  root.append(
    h("h2", {}, "Coverage"),
    h("div", { class: "row", role: "group", "aria-label": "Whose calls" },
      h("label", {}, h("input", { type: "radio", name: "scope", checked: scope === "tenant", onchange: () => reopen({ scope: null }) }), " This tenant's calls"),
      h("label", {}, h("input", { type: "radio", name: "scope", checked: scope === "server", onchange: () => reopen({ scope: "server" }) }), " Every tenant's (since the sandbox started)"),
      h("label", {}, h("input", { type: "checkbox", checked: calledOnly, onchange: (e) => reopen({ called: e.target.checked ? "1" : null }) }), " Only operations called")),
    h("p", { id: "coverage-totals" }, summary("All providers", coverage.totals)));
  const providers = Object.entries(coverage.providers);
  if (!providers.length) root.append(notice("ok", "The sandbox serves no provider."));
  for (const [name, provider] of providers) {
    const operations = Object.entries(provider.operations)
      .map(([id, operation]) => ({ id, ...operation }))
      .filter((operation) => !calledOnly || operation.calls > 0);
    root.append(h("section", { class: "coverage-provider", "aria-label": `${name} coverage` },
      h("h3", {}, name),
      h("p", {}, summary(name, provider), provider.unmatched ? ` · ${provider.unmatched} call(s) matched no operation` : ""),
      operations.length ? table([
        { title: "Operation", cell: (o) => [h("strong", {}, o.id), h("br"), h("span", { class: "muted" }, `${o.method} ${o.path}`)] },
        { title: "Calls", class: "num", cell: (o) => o.calls },
        { title: "Statuses seen", class: "wrap", cell: (o) => seen(o.statuses, true) },
        { title: "Not seen", class: "wrap", cell: (o) => seen(o.statuses, false) },
        { title: "Undocumented", class: "wrap", cell: (o) => Object.entries(o.undocumented).map(([status, count]) => `${status} ×${count}`).join(", ") },
      ], operations, { rowAttributes: (o) => ({ dataset: { operation: o.id }, class: o.calls ? "covered" : "uncovered" }) })
        : notice("ok", "No operation of this provider was called.")));
  }
}

function summary(label, totals) {
  return `${label}: ${totals.operations_exercised} of ${totals.operations_total} operations exercised (${totals.operations_percent}%), `
    + `${totals.statuses_exercised} of ${totals.statuses_total} documented statuses (${totals.statuses_percent}%), ${totals.calls} call(s).`;
}

function seen(statuses, wanted) {
  const codes = Object.entries(statuses).filter(([, count]) => (count > 0) === wanted);
  if (!codes.length) return wanted ? h("span", { class: "muted" }, "none") : h("span", { class: "status-2" }, "all seen");
  return codes.map(([status, count]) => h("span", { class: `code ${wanted ? statusClass(status) : "unseen"}` },
    wanted ? `${status} ×${count}` : status));
}
