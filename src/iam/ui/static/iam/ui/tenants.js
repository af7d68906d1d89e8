// The tenant switcher: the user's organisations, and a switch that re-scopes this session.
import { $, api, consolePage, describe, h, message, show, tokensArrived } from "./core.js";

const list = $("#tenant-list");
const text = list.dataset;

async function load() {
  const tenants = await api("GET", "/api/tenants/");
  show($("#none"), tenants.length === 0);
  list.replaceChildren(
    ...tenants.map((t) =>
      h(
        "li",
        { dataset: { tenant: t.slug } },
        h(
          "div",
          { class: "main" },
          h("strong", {}, t.name),
          t.current ? h("span", { class: "badge" }, text.current) : null,
          h("span", { class: "meta" }, `${t.slug} · ${text.role.replace("{role}", t.role)}`),
        ),
        t.current
          ? null
          : h(
              "div",
              { class: "tools" },
              h(
                "button",
                {
                  type: "button",
                  class: "button secondary small",
                  "aria-label": text.switchLabel.replace("{name}", t.name),
                  onclick: () => switchTo(t),
                },
                text.switch,
              ),
            ),
      ),
    ),
  );
}

async function switchTo(tenant) {
  message($("#list-alert"), "");
  try {
    // new tokens for the same session, scoped to that tenant; the other tabs reload
    tokensArrived(await api("POST", "/api/auth/tenant/switch/", { tenant: tenant.slug }), "switched");
    location.assign("/tenant");
  } catch (error) {
    message($("#list-alert"), describe(error), { focus: true });
  }
}

consolePage().then(load).catch((error) => message($("#list-alert"), describe(error), { focus: true }));
