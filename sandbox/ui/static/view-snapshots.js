// Snapshots: download a tenant's whole world as JSON; restore one from a file.

import { get, put, tenantPath, ApiFailure } from "./api.js";
import { h, replace, notice, failure } from "./dom.js";

export async function render(root, { credential }) {
  const message = h("div", { "aria-live": "polite" });
  const file = h("input", { type: "file", id: "snapshot-file", accept: ".json,application/json" });
  root.append(
    h("h2", {}, "Snapshots"),
    h("p", { class: "muted" }, "A snapshot holds the tenant's records of every provider it used, their id sequences and its clock."),
    h("div", { class: "row" }, h("button", { type: "button", id: "download", class: "primary", onclick: download }, "Download snapshot")),
    h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); restore(); } },
      h("label", { for: "snapshot-file" }, "Restore from "), file, h("button", { type: "submit" }, "Restore")),
    message);

  async function download() {
    try {
      const snapshot = await get(tenantPath(credential, "state"));
      const blob = new Blob([JSON.stringify(snapshot, null, 2)], { type: "application/json" });
      const anchor = h("a", { href: URL.createObjectURL(blob), download: `snapshot-${credential}.json` });
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
      replace(message, notice("ok", `Downloaded snapshot-${credential}.json.`));
    } catch (error) {
      if (!(error instanceof ApiFailure)) throw error;
      replace(message, failure(error));
    }
  }

  async function restore() {
    if (!file.files[0]) { replace(message, notice("error", "Choose a snapshot file first.")); return; }
    let snapshot;
    try { snapshot = JSON.parse(await file.files[0].text()); }
    catch { replace(message, notice("error", "That file is not JSON: not a snapshot.")); return; }
    try {
      const restored = await put(tenantPath(credential, "state"), snapshot);
      const count = Object.values(restored.providers)
        .reduce((sum, store) => sum + Object.values(store.collections).reduce((a, rs) => a + rs.length, 0), 0);
      replace(message, notice("ok", `Restored: ${count} record(s) in ${Object.keys(restored.providers).length} provider(s).`));
    } catch (error) {
      if (!(error instanceof ApiFailure)) throw error;
      replace(message, failure(error));
    }
  }
}
