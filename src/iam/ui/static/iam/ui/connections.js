// Connected accounts (social sign-in): list, disconnect, connect another provider. Shown only
// where this IAM offers social sign-in (docs/api.md, "Social sign-in").
import { $, api, consolePage, dateTime, describe, h, message, onSubmit, param, say, show, socialProviders } from "./core.js";

const list = $("#identities");
const text = list.dataset;
const form = $("#connect-form");

async function load() {
  const providers = (await socialProviders()) ?? [];
  const identities = await api("GET", "/api/auth/social/identities/");
  show($("#none"), identities.length === 0);
  list.replaceChildren(
    ...identities.map((identity) => {
      const name = identity.display_name ?? identity.provider;
      const since = identity.created_at ? text.since.replace("{date}", dateTime(identity.created_at)) : null;
      return h(
        "li",
        {},
        h(
          "div",
          { class: "main" },
          h("strong", {}, name),
          h("span", { class: "meta" }, [identity.email, since].filter(Boolean).join(" · ")),
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
  show($("#connect-section"), providers.length > 0);
  const buttons = $("#connect");
  buttons.replaceChildren(
    ...providers.map((p) =>
      h(
        "button",
        { class: "button secondary", type: "submit", value: p.name },
        buttons.dataset.label.replace("{name}", p.display_name ?? p.name),
      ),
    ),
  );
}

// connecting needs a recent sign-in: the password in an older session
onSubmit(
  form,
  ({ password }, button) =>
    api("POST", "/api/auth/social/identities/", {
      provider: button.value,
      next: location.pathname,
      ...($("#connect-password-field").hidden ? {} : { password }),
    }),
  {
    done: (answer) => location.assign(answer.authorization_url),
    failed(error) {
      if (error.code === "password_required") {
        show($("#connect-password-field"));
        form.password.focus();
      }
    },
    fieldFor: (code) => (code === "invalid_password" ? "password" : null),
  },
);

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
  .then((me) => {
    form["account-username"].value = me.email;
    if (param("social_connected")) message($("#status"), $("#status").dataset.connected);
    if (param("social_error")) message($("#list-alert"), say(param("social_error"), say("unknown")));
    return load();
  })
  .catch((error) => message($("#list-alert"), describe(error), { focus: true }));
