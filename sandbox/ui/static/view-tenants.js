// Tenants: every credential the sandbox holds (an admin capability: the API may ask for the token).

import { get, ApiFailure } from "./api.js";
import { h, replace, table, notice, failure, formatTime, statusClass } from "./dom.js";

function recordCounts(providers) {
  const parts = Object.entries(providers).map(([name, collections]) =>
    `${name} (${Object.values(collections).reduce((a, b) => a + b, 0)})`);
  return parts.length ? parts.join(", ") : "none yet";
}

export async function render(root, { link }) {
  const list = h("div", { "aria-live": "polite" });
  const refresh = h("button", { type: "button", onclick: () => load() }, "Refresh");
  root.append(
    h("h2", {}, "Tenants"),
    h("p", { class: "muted" }, "Open a tenant by typing its credential above, or pick one the sandbox holds."),
    h("div", { class: "row" }, refresh), list);

  async function load() {
    try {
      const page = await get(`/tenants?limit=500`);
      if (!page.tenants.length) {
        replace(list, notice("ok", "The sandbox holds no tenant yet: a client's first call, or opening a credential, makes one."));
        return;
      }
      replace(list, table([
        { title: "Credential", cell: (t) => h("a", { href: link(t.credential, "records") }, t.credential) },
        { title: "Providers (records)", cell: (t) => recordCounts(t.providers) },
        { title: "Clock", cell: (t) => [formatTime(t.clock.now), " ",
          h("span", { class: `badge ${t.clock.frozen ? "frozen" : ""}` }, t.clock.frozen ? "frozen" : "running")] },
        { title: "Calls", class: "num", cell: (t) => t.calls },
        { title: "Last call", cell: (t) => t.last_call
          ? [h("span", { class: statusClass(t.last_call.status) }, t.last_call.status), ` ${t.last_call.method} ${t.last_call.path}`]
          : "none" },
      ], page.tenants, { caption: `${page.total} tenant(s)${page.total > page.tenants.length ? `, the ${page.tenants.length} most recently called shown` : ""}` }));
    } catch (error) {
      if (!(error instanceof ApiFailure)) throw error;
      replace(list, error.status === 401 || error.status === 403
        ? notice("error", `Listing tenants needs the admin token (${error.message}). You can still open a tenant by its credential.`)
        : failure(error));
    }
  }
  await load();
}
