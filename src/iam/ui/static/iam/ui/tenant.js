// The current organisation: members (role change, removal), invitations (create, withdraw) and
// roles (read only), each shown when the session's role grants it.
import { $, api, consolePage, dateTime, describe, h, message, onSubmit, show } from "./core.js";

let me = null;
let tenant = null;
let roles = [];

const can = (perm) => tenant.perms.includes(perm);
const ownRank = () => Math.max(0, ...roles.filter((r) => tenant.roles.includes(r.name)).map((r) => r.rank));

async function start() {
  me = await consolePage();
  try {
    tenant = await api("GET", "/api/tenant/");
  } catch (error) {
    if (error.code === "not_a_member") return show($("#no-tenant"));
    throw error;
  }
  $("#tenant-name").textContent = tenant.name;
  $("#tenant-role").textContent = tenant.roles.join(", ");
  roles = await api("GET", "/api/tenant/roles/");
  renderRoles();
  const work = [];
  if (can("members.read")) work.push(loadMembers());
  if (can("members.invite")) work.push(loadInvitations());
  await Promise.all(work);
}

function renderRoles() {
  show($("#roles"));
  $("#role-list").replaceChildren(
    ...roles.map((role) =>
      h("li", {}, h("div", { class: "main" }, h("strong", {}, role.name), h("span", { class: "meta" }, role.permissions.join(", ")))),
    ),
  );
  const choices = roles.filter((r) => r.rank <= ownRank());
  $("#invite-role").replaceChildren(
    ...choices.map((r) => h("option", { value: r.name, selected: r.name === "member" }, r.name)),
  );
}

function roleSelect(member) {
  const label = $("#member-list").dataset.roleLabel.replace("{name}", member.name || member.email);
  const rank = roles.find((r) => r.name === member.role)?.rank ?? 0;
  const select = h(
    "select",
    { "aria-label": label, disabled: rank > ownRank() || !can("members.manage") },
    ...roles.map((r) => h("option", { value: r.name, selected: r.name === member.role, disabled: r.rank > ownRank() }, r.name)),
  );
  select.addEventListener("change", () =>
    act("members", async () => {
      await api("PATCH", `/api/tenant/members/${member.user_id}/`, { role: select.value });
      await loadMembers();
      message($("#members-status"), $("#members-status").dataset.roleChanged);
    }).then((ok) => ok || (select.value = member.role)),
  );
  return select;
}

async function loadMembers() {
  const members = await api("GET", "/api/tenant/members/");
  const text = $("#member-list").dataset;
  show($("#members"));
  $("#member-list").replaceChildren(
    ...members.map((m) => {
      const you = m.user_id === me.id;
      return h(
        "li",
        { dataset: { member: m.email } },
        h(
          "div",
          { class: "main" },
          h("strong", {}, m.name || m.email),
          you ? h("span", { class: "badge" }, text.you) : null,
          h("span", { class: "meta" }, `${m.email} · ${text.joined.replace("{date}", dateTime(m.joined_at))}`),
        ),
        h(
          "div",
          { class: "tools" },
          roleSelect(m),
          can("members.manage") && !you
            ? h(
                "button",
                {
                  type: "button",
                  class: "button secondary small",
                  "aria-label": text.removeLabel.replace("{name}", m.name || m.email),
                  onclick: () =>
                    act("members", async () => {
                      await api("DELETE", `/api/tenant/members/${m.user_id}/`);
                      await loadMembers();
                      message($("#members-status"), $("#members-status").dataset.removed);
                    }),
                },
                text.remove,
              )
            : null,
        ),
      );
    }),
  );
}

async function loadInvitations() {
  const invitations = await api("GET", "/api/tenant/invitations/");
  const text = $("#invitation-list").dataset;
  show($("#invitations"));
  show($("#no-invitations"), invitations.length === 0);
  $("#invitation-list").replaceChildren(
    ...invitations.map((inv) =>
      h(
        "li",
        { dataset: { invitation: inv.email } },
        h(
          "div",
          { class: "main" },
          h("strong", {}, inv.email),
          h(
            "span",
            { class: "meta" },
            text.meta
              .replace("{role}", inv.role)
              .replace("{created}", dateTime(inv.created_at))
              .replace("{expires}", dateTime(inv.expires_at)),
          ),
        ),
        h(
          "div",
          { class: "tools" },
          h(
            "button",
            {
              type: "button",
              class: "button secondary small",
              "aria-label": text.revokeLabel.replace("{email}", inv.email),
              onclick: () =>
                act("members", async () => {
                  await api("DELETE", `/api/tenant/invitations/${inv.id}/`);
                  await loadInvitations();
                }),
            },
            text.revoke,
          ),
        ),
      ),
    ),
  );
}

async function act(section, work) {
  const alert = $(`#${section}-alert`);
  message(alert, "");
  message($("#members-status"), "");
  try {
    await work();
    return true;
  } catch (error) {
    message(alert, describe(error), { focus: true });
    return false;
  }
}

const inviteForm = $("#invite-form");
onSubmit(inviteForm, ({ email, role }) => api("POST", "/api/tenant/invitations/", { email, role }), {
  async done(invitation) {
    inviteForm.email.value = "";
    const notice = $(".notice", inviteForm);
    message(notice, notice.dataset.text.replace("{email}", invitation.email));
    await loadInvitations();
  },
});
inviteForm.addEventListener("submit", () => message($(".notice", inviteForm), ""));

start().catch((error) => message($("#page-alert"), describe(error), { focus: true }));
