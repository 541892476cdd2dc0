// Building the page from data without ever parsing data as HTML.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

export function notice(kind, message, items = []) {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" },
    message, items.length ? h("ul", {}, items.map((item) => h("li", {}, item))) : null);
}

export function failure(error) {
  const problems = (error.error && error.error.problems) || [];
  return notice("error", error.message, problems.length > 1 ? problems : []);
}

// `stacked`: on a narrow window each row becomes a block of labelled cells instead of scrolling sideways.
export function table(columns, rows, { caption, rowAttributes, stacked } = {}) {
  return h("div", { class: stacked ? "table-wrap stacked" : "table-wrap" },
    h("table", {},
      caption ? h("caption", { class: "muted" }, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.title)))),
      h("tbody", {}, rows.map((row) =>
        h("tr", rowAttributes ? rowAttributes(row) : {}, columns.map((c) => h("td", { class: c.class, "data-label": stacked ? c.title : null }, c.cell(row))))))));
}

export function json(value) {
  return h("pre", { class: "json", tabindex: 0 }, JSON.stringify(value, null, 2));
}

export function statusClass(status) {
  return `status-${String(status)[0]}`;
}

export function formatTime(iso) {
  return iso ? iso.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC") : "";
}
