// Faults: the tenant's fault rules (and those every tenant gets); add one, remove one.

import { get, post, del, tenantPath, ApiFailure } from "./api.js";
import { h, replace, table, notice, failure } from "./dom.js";

const COLUMNS = (remove) => [
  { title: "#", class: "num", cell: (f) => f.id },
  { title: "Method", cell: (f) => f.method || "any" },
  { title: "Path", cell: (f) => f.path },
  { title: "Effect", cell: (f) => [f.status && `answer ${f.status}`, f.latency_ms && `${f.latency_ms} ms late`, f.drop && "drop"].filter(Boolean).join(", ") },
  { title: "Fires", cell: (f) => `${f.remaining === null ? "every time" : `${f.remaining} more`}${f.probability < 1 ? ` at p=${f.probability}` : ""}` },
  { title: "Fired", class: "num", cell: (f) => f.fired },
  ...(remove ? [{ title: "", cell: (f) => h("button", { type: "button", class: "danger", "aria-label": `Remove fault rule ${f.id}`, onclick: () => remove(f.id) }, "Remove") }] : []),
];

export async function render(root, { credential }) {
  const list = h("div", { id: "fault-list", "aria-live": "polite" });
  const message = h("div", { "aria-live": "polite" });
  const field = (name, label, attributes = {}) => h("label", {}, `${label} `, h("input", { name, ...attributes }));
  const form = h("form", { class: "panel", onsubmit: (e) => { e.preventDefault(); add(); } },
    h("h3", {}, "Add a fault rule"),
    h("div", { class: "row" },
      h("label", {}, "Method ", h("select", { name: "method" }, ["", "GET", "POST", "PUT", "PATCH", "DELETE"].map((m) => h("option", { value: m }, m || "any")))),
      field("path", "Path glob", { required: true, placeholder: "/payt/v1/tasks/*", size: 28 })),
    h("div", { class: "row" },
      h("label", {}, "Answer ", h("select", { name: "status" }, ["", "429", "500", "503"].map((s) => h("option", { value: s }, s || "normally")))),
      field("latency_ms", "Latency ms", { type: "number", min: 0, max: 60000, size: 6 }),
      h("label", {}, h("input", { type: "checkbox", name: "drop" }), " Drop the connection")),
    h("div", { class: "row" },
      field("times", "Times", { type: "number", min: 1, size: 4 }),
      field("probability", "Probability", { type: "number", min: 0, max: 1, step: "any", size: 4 }),
      field("seed", "Seed", { type: "number", size: 6 })),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Add rule")), message);
  root.append(h("h2", {}, "Faults"), list, form);

  async function load() {
    const answer = await get(tenantPath(credential, "faults"));
    replace(list,
      answer.faults.length ? table(COLUMNS(remove), answer.faults, { caption: "This tenant's rules, tried in this order" })
        : notice("ok", "This tenant has no fault rule."),
      answer.global.length ? table(COLUMNS(null), answer.global, { caption: "Rules every tenant gets (sandbox serve --faults)" }) : null);
  }

  async function add() {
    const rule = {};
    for (const element of form.elements) {
      if (!element.name || element.value === "") continue;
      if (element.type === "checkbox") { if (element.checked) rule[element.name] = true; continue; }
      rule[element.name] = ["method", "path"].includes(element.name) ? element.value : Number(element.value);
    }
    try {
      const added = await post(tenantPath(credential, "faults"), rule);
      replace(message, notice("ok", `Added rule ${added.id}.`));
      await load();
    } catch (error) {
      if (!(error instanceof ApiFailure)) throw error;
      replace(message, failure(error));
    }
  }

  async function remove(id) {
    try {
      await del(tenantPath(credential, "faults", String(id)));
      replace(message, notice("ok", `Removed rule ${id}.`));
      await load();
    } catch (error) {
      if (!(error instanceof ApiFailure)) throw error;
      replace(message, failure(error));
    }
  }

  await load();
}
