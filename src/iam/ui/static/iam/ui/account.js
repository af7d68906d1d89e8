// Profile: name and username; the e-mail address changes only once the new one is verified.
import { $, api, consolePage, message, onSubmit, say, show } from "./core.js";

const profile = $("#profile-form");
const emailForm = $("#email-form");

function render(me) {
  profile.name.value = me.name ?? "";
  profile.username.value = me.username ?? "";
  $("#current-email").textContent = me.email;
  emailForm["account-username"].value = me.email;
  const pending = $("#pending");
  pending.textContent = pending.dataset.text.replace("{email}", me.pending_email ?? "");
  show(pending, Boolean(me.pending_email));
}

consolePage().then(render, () => {});

onSubmit(profile, ({ name, username }) => api("PATCH", "/api/auth/me/", { name, username }), {
  done(me) {
    render(me);
    message($(".notice", profile), say("saved"));
  },
});
profile.addEventListener("submit", () => message($(".notice", profile), ""));

onSubmit(
  emailForm,
  ({ email, current_password }) => api("PATCH", "/api/auth/me/", { email, current_password }),
  {
    done(me) {
      emailForm.reset();
      render(me);
      $("#pending").focus?.();
    },
  },
);
