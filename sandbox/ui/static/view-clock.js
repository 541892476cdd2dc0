// Clock: now, frozen or running; set, freeze, advance by preset steps, and what settled
// (records the work due changed, webhook retries that fired).

import { get, post, tenantPath, tenantChanged, ApiFailure } from "./api.js";
import { h, replace, table, notice, failure, formatTime } from "./dom.js";

const STEPS = [["1 minute", 60], ["1 hour", 3600], ["1 day", 86400], ["30 days", 30 * 86400]];

export async function render(root, { credential, link }) {
  const now = h("div", { class: "clock-now", id: "clock-now", "aria-live": "polite" });
  const state = h("span", { class: "badge", id: "clock-state" });
  const freeze = h("button", { type: "button", id: "freeze", onclick: () => move({ frozen: !clock.frozen }) });
  const setInput = h("input", { type: "datetime-local", step: 1, id: "clock-set", "aria-label": "Set the clock to (UTC)" });
  const result = h("div", { id: "settled", "aria-live": "polite" });
  let clock = await get(tenantPath(credential, "clock"));
  let fetchedAt = Date.now();

  root.append(
    h("h2", {}, "Clock"),
    h("div", { class: "row" }, now, state),
    h("div", { class: "row" }, freeze),
    h("div", { class: "row", role: "group", "aria-label": "Advance" }, "Advance by",
      STEPS.map(([label, seconds]) => h("button", { type: "button", onclick: () => move({ advance: seconds }) }, `+${label}`))),
    h("form", { class: "row", onsubmit: (e) => {
      e.preventDefault();
      if (setInput.value) move({ set: `${setInput.value.length === 16 ? `${setInput.value}:00` : setInput.value}Z` });
    } }, h("label", { for: "clock-set" }, "Set to (UTC) "), setInput, h("button", { type: "submit" }, "Set")),
    h("h3", {}, "What settled"), result);

  function draw() {
    const shown = clock.frozen ? new Date(clock.now) : new Date(Date.parse(clock.now) + (Date.now() - fetchedAt));
    now.textContent = formatTime(shown.toISOString().replace(/\.\d+Z$/, "Z"));
    state.textContent = clock.frozen ? "frozen" : "running";
    state.classList.toggle("frozen", clock.frozen);
    freeze.textContent = clock.frozen ? "Unfreeze (let it run)" : "Freeze";
  }

  async function move(change) {
    try {
      const answer = await post(tenantPath(credential, "clock", "move"), change);
      clock = answer.clock;
      fetchedAt = Date.now();
      tenantChanged();
      draw();
      const attempts = answer.webhook_attempts;
      replace(result,
        answer.settled_count ? table([
          { title: "Provider", cell: (s) => s.provider },
          { title: "Record", cell: (s) => `${s.collection} ${s.key}` },
          { title: "Change", cell: (s) => s.change },
          { title: "Fields", cell: (s) => s.fields.map((f) => `${f.name}: ${JSON.stringify(f.before)} → ${JSON.stringify(f.after)}`).join("; ") },
        ], answer.settled, { caption: `${answer.settled_count} record(s) settled by this move` }) : null,
        attempts.length ? table([
          { title: "Provider", cell: (a) => a.provider },
          { title: "Event", cell: (a) => a.event_type },
          { title: "Attempt", cell: (a) => (a.attempt === 1 ? "first attempt" : `retry (attempt ${a.attempt})`) },
          { title: "Started", cell: (a) => formatTime(a.time) },
          { title: "Delivery", cell: (a) => h("a", { href: link(credential, "webhooks") }, a.delivery) },
        ], attempts, { caption: `${attempts.length} webhook delivery attempt(s) started by this move (outcomes in Webhooks)` }) : null,
        answer.settled_count || attempts.length ? null : notice("ok", "Nothing fell due by the new time."));
    } catch (error) {
      if (!(error instanceof ApiFailure)) throw error;
      replace(result, failure(error));
    }
  }

  draw();
  const ticker = setInterval(draw, 1000);
  return () => clearInterval(ticker);
}
