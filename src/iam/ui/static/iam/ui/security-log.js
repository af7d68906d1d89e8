// The security log: the account's audit events, newest first, a page at a time.
import { $, api, consolePage, dateTime, describe, h, message, show } from "./core.js";

const list = $("#events");
const names = new Map([...document.querySelectorAll("#event-names [data-event]")].map((p) => [p.dataset.event, p.textContent]));
let next = "/api/auth/security-log/";

async function more() {
  const page = await api("GET", next);
  list.append(
    ...page.results.map((event) =>
      h(
        "li",
        {},
        h(
          "div",
          { class: "main" },
          h("strong", {}, names.get(event.event) ?? event.event),
          h(
            "span",
            { class: "meta" },
            list.dataset.meta
              .replace("{when}", dateTime(event.at))
              .replace("{device}", event.device?.label ?? list.dataset.unknown)
              .replace("{ip}", event.ip ?? list.dataset.unknown),
          ),
        ),
      ),
    ),
  );
  // the cursor link is absolute: call it on the API this page talks to
  next = page.next ? new URL(page.next).pathname + new URL(page.next).search : null;
  show($("#older"), Boolean(next));
  show($("#empty"), list.children.length === 0);
}

async function load() {
  try {
    await more();
  } catch (error) {
    message($("#page-alert"), describe(error), { focus: true });
  }
}

$("#older").addEventListener("click", load);
consolePage().then(load, () => {});
