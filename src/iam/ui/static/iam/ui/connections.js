// Connected accounts (social sign-in): list, disconnect, connect another provider. Shown only
// where this IAM offers social sign-in (GET /api/auth/social/providers/ answers).
import { $, api, consolePage, dateTime, describe, h, message, show, socialProviders } from "./core.js";

const list = $("#identities");
const text = list.dataset;

async function load() {
  const providers = (await socialProviders()) ?? [];
  const data = await api("GET", "/api/auth/social/identities/");
  const identities = Array.isArray(data) ? data : (data?.results ?? []);
  const nameOf = (id) => providers.find((p) => p.name === id)?.display_name ?? id;
  show($("#none"), identities.length === 0);
  list.replaceChildren(
    ...identities.map((identity) => {
      const name = nameOf(identity.provider);
      return h(
        "li",
        {},
        h(
          "div",
          { class: "main" },
          h("strong", {}, name),
          h("span", { class: "meta" }, [identity.email, identity.created_at ? text.since.replace("{date}", dateTime(identity.created_at)) : null].filter(Boolean).join(" · ")),
        ),
        h(
          "div",
          { class: "tools" },
          h(
            "button",
            {
              type: "button",
              class: "button secondary small",
              "aria-label": text.disconnectLabel.replace("{name}", name),
              onclick: () => disconnect(identity),
            },
            text.disconnect,
          ),
        ),
      );
    }),
  );
  const connect = $("#connect");
  connect.replaceChildren(
    ...providers.map((provider) => {
      const url = new URL(provider.begin_url ?? provider.url, location.origin);
      url.searchParams.set("next", location.pathname);
      return h("a", { class: "button secondary", href: url.toString() }, connect.dataset.label.replace("{name}", provider.display_name ?? provider.name));
    }),
  );
}

async function disconnect(identity) {
  message($("#list-alert"), "");
  try {
    await api("DELETE", `/api/auth/social/identities/${identity.id}/`);
    await load();
    message($("#status"), $("#status").dataset.removed, { focus: true });
  } catch (error) {
    message($("#list-alert"), describe(error), { focus: true });
  }
}

consolePage()
  .then(load)
  .catch((error) => message($("#list-alert"), describe(error), { focus: true }));
