// Webhooks: the tenant's subscriptions (pause, resume, delete, add one) and the delivery log with every
// attempt, newest first, redelivered on request. Attempts are posted off the request path, so the log is
// read again every few seconds while the view is open (and redrawn only when it changed).

import { get, post, del, call, tenantPath, ApiFailure } from "./api.js";
import { h, replace, table, notice, failure, statusClass, formatTime } from "./dom.js";

const POLL_MS = 1500;

export async function render(root, { credential }) {
  const subscriptionList = h("div", { id: "subscription-list", "aria-live": "polite" });
  const deliveryList = h("div", { id: "delivery-list" });
  const message = h("div", { "aria-live": "polite" });
  const { providers } = await get("/health");
  const form = h("form", { class: "panel", onsubmit: (e) => { e.preventDefault(); add(); } },
    h("h3", {}, "Add a subscription"),
    h("p", { class: "muted" }, "For providers whose webhooks are set up in their own dashboard (as Invoiced's). "
      + "The sandbox posts each event to the URL, signed as the provider signs, and retries on the tenant clock."),
    h("div", { class: "row" },
      h("label", {}, "Provider ", h("select", { name: "provider", required: true },
        providers.map((name) => h("option", { value: name }, name)))),
      h("label", { class: "grow" }, "URL ", h("input", { name: "url", required: true, type: "url", placeholder: "the receiver's URL (a local one is fine)" }))),
    h("div", { class: "row" },
      h("label", { class: "grow" }, "Event types ", h("input", { name: "events", placeholder: "all (or: customer.created, invoice.paid)" })),
      h("label", {}, "Secret ", h("input", { name: "secret", placeholder: "generated", minlength: 8, size: 16 }))),
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Subscribe")));
  root.append(h("h2", {}, "Webhooks"), h("h3", {}, "Subscriptions"), subscriptionList, message, form,
    h("h3", {}, "Deliveries"), deliveryList);

  let shownDeliveries = null;
  let timer = null;
  let stopped = false;

  async function loadSubscriptions() {
    const { subscriptions } = await get(tenantPath(credential, "webhooks", "subscriptions"));
    replace(subscriptionList, subscriptions.length ? table([
      { title: "Provider", cell: (s) => s.provider },
      { title: "URL", class: "wrap", cell: (s) => s.url },
      { title: "Events", class: "wrap", cell: (s) => (s.events.includes("*") ? "all" : s.events.join(", ")) },
      { title: "State", cell: (s) => subscriptionState(s) },
      { title: "Secret", cell: (s) => h("code", {}, s.secret) },
      { title: "", cell: (s) => h("span", { class: "row tight" },
        h("button", { type: "button", onclick: () => pause(s, !s.paused), "aria-label": `${s.paused ? "Resume" : "Pause"} subscription ${s.id}` },
          s.paused ? "Resume" : "Pause"),
        h("button", { type: "button", class: "danger", "aria-label": `Delete subscription ${s.id}`, onclick: (e) => remove(s, e.currentTarget) }, "Delete")) },
    ], subscriptions, { caption: `${subscriptions.length} subscription(s), oldest first`, stacked: true })
      : notice("ok", "This tenant has no webhook subscription."));
  }

  async function loadDeliveries() {
    try {
      const { deliveries } = await get(tenantPath(credential, "webhooks", "deliveries"));
      const text = JSON.stringify(deliveries);
      if (text !== shownDeliveries) {
        shownDeliveries = text;
        drawDeliveries(deliveries.slice().reverse());
      }
    } catch (error) {
      if (!(error instanceof ApiFailure)) throw error;
      replace(deliveryList, failure(error));
    }
    if (!stopped) timer = setTimeout(tick, POLL_MS);
  }
  function tick() { if (document.hidden) timer = setTimeout(tick, POLL_MS); else loadDeliveries(); }

  function drawDeliveries(deliveries) {
    const focused = deliveryList.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
    drawDeliveryTable(deliveries);
    // A redraw while the log is read again must not throw a keyboard user back to the top of the page.
    const again = focused && deliveryList.querySelector(`[aria-label="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }

  function drawDeliveryTable(deliveries) {
    if (!deliveries.length) {
      replace(deliveryList, notice("ok", "No delivery yet. One appears for each event a subscription receives."));
      return;
    }
    replace(deliveryList, table([
      { title: "Created", cell: (d) => formatTime(d.created) },
      { title: "Event", cell: (d) => [h("strong", {}, d.event.type), h("br"), h("span", { class: "muted" }, `${d.provider} · ${d.event.id}`)] },
      { title: "Status", cell: (d) => [h("span", { class: `delivery-${d.status}` }, d.status), d.replay ? h("span", { class: "badge" }, "replay") : null,
        d.next_attempt_at ? [h("br"), h("span", { class: "muted" }, `next ${formatTime(d.next_attempt_at)}`)] : null] },
      { title: "Attempts", class: "wrap", cell: (d) => attempts(d) },
      { title: "", cell: (d) => h("button", { type: "button", "aria-label": `Redeliver ${d.event.type} (delivery ${d.id})`, onclick: () => redeliver(d) }, "Redeliver") },
    ], deliveries, { caption: `${deliveries.length} delivery(ies), newest first`, rowAttributes: (d) => ({ dataset: { id: d.id } }), stacked: true }));
  }

  async function act(work, done) {
    try {
      await work();
      replace(message, notice("ok", done));
      await loadSubscriptions();
      clearTimeout(timer);
      await loadDeliveries();
    } catch (error) {
      if (!(error instanceof ApiFailure)) throw error;
      replace(message, failure(error));
    }
  }

  function add() {
    const subscription = {};
    for (const element of form.elements) {
      if (!element.name || element.value.trim() === "") continue;
      subscription[element.name] = element.name === "events"
        ? element.value.split(/[\s,]+/).filter(Boolean) : element.value.trim();
    }
    return act(() => post(tenantPath(credential, "webhooks", "subscriptions"), subscription), `Subscribed ${subscription.url}.`);
  }

  function pause(subscription, paused) {
    return act(() => call("PATCH", tenantPath(credential, "webhooks", "subscriptions", subscription.id), { body: { paused } }),
      `${paused ? "Paused" : "Resumed"} the subscription to ${subscription.url}.`);
  }

  function remove(subscription, button) {
    if (button.dataset.armed !== "yes") {  // a second press confirms
      button.dataset.armed = "yes";
      button.textContent = "Really delete?";
      return null;
    }
    return act(() => del(tenantPath(credential, "webhooks", "subscriptions", subscription.id)),
      `Deleted the subscription to ${subscription.url}.`);
  }

  function redeliver(delivery) {
    return act(() => post(tenantPath(credential, "webhooks", "deliveries", delivery.id, "redeliver")),
      `Sent ${delivery.event.type} again, as a new delivery.`);
  }

  await loadSubscriptions();
  await loadDeliveries();
  return () => { stopped = true; clearTimeout(timer); };
}

function subscriptionState(subscription) {
  if (!subscription.active) return h("span", { class: "status-5" }, subscription.disabled_reason || "disabled");
  return subscription.paused ? h("span", { class: "badge frozen" }, "paused") : "active";
}

function attempts(delivery) {
  if (!delivery.attempts.length) return h("span", { class: "muted" }, "none yet");
  return h("ol", { class: "attempts" }, delivery.attempts.map((a) => h("li", {},
    h("span", { class: `attempt-${a.status}` }, a.status), " ",
    a.response_code === null ? null : h("strong", { class: statusClass(a.response_code) }, a.response_code), " ",
    h("span", { class: "muted" }, `at ${formatTime(a.time)}${a.duration_ms === null ? "" : ` · ${a.duration_ms} ms`}`),
    a.error ? h("div", { class: "field-error" }, a.error) : null)));
}
