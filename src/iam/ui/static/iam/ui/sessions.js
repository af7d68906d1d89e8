// Device sessions: see them, sign one out, sign out the others or everywhere.
import { $, api, consolePage, dateTime, describe, h, message, signedOut, signingOut } from "./core.js";

const list = $("#session-list");
const text = list.dataset;

async function load() {
  const sessions = await api("GET", "/api/auth/sessions/");
  list.replaceChildren(
    ...sessions.map((s) => {
      const device = s.device?.label ?? "";
      const meta = text.meta
        .replace("{used}", dateTime(s.last_used_at))
        .replace("{ip}", s.ip ?? text.unknownIp)
        .replace("{created}", dateTime(s.created_at));
      return h(
        "li",
        { dataset: { session: s.id } },
        h(
          "div",
          { class: "main" },
          h("strong", {}, device),
          s.current ? h("span", { class: "badge" }, text.thisDevice) : null,
          s.amr?.includes("otp") ? h("span", { class: "badge" }, text.twoFactor) : null,
          h("span", { class: "meta" }, meta),
        ),
        h(
          "div",
          { class: "tools" },
          h(
            "button",
            {
              type: "button",
              class: "button secondary small",
              "aria-label": text.signOutLabel.replace("{device}", device),
              onclick: () => revoke(s),
            },
            text.signOut,
          ),
        ),
      );
    }),
  );
}

async function act(work) {
  message($("#page-alert"), "");
  message($("#status"), "");
  try {
    await work();
  } catch (error) {
    message($("#page-alert"), describe(error), { focus: true });
  }
}

function revoke(session) {
  return act(async () => {
    if (session.current) signingOut();
    await api("DELETE", `/api/auth/sessions/${session.id}/`);
    if (session.current) return signedOut("signed_out");
    await load();
    message($("#status"), text.signedOut, { focus: true });
  });
}

$("#sign-out-others").addEventListener("click", () =>
  act(async () => {
    const { revoked } = await api("POST", "/api/auth/logout-all/", { keep_current: true });
    await load();
    message($("#status"), text.othersOut.replace("{n}", String(revoked)), { focus: true });
  }),
);

$("#sign-out-everywhere").addEventListener("click", () =>
  act(async () => {
    signingOut();
    await api("POST", "/api/auth/logout-all/", { keep_current: false });
    signedOut("signed_out");
  }),
);

consolePage().then(() => act(load), () => {});
