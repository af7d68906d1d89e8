// Accept a tenant invitation: signed in with the invited address, or sign in / sign up first.
import {
  $, ApiError, api, describe, message, onSubmit, show, signOut, signedInHere, takeLinkToken, tokensArrived,
} from "./core.js";

const token = takeLinkToken();
const here = token ? `/invitations/accept?${new URLSearchParams({ token })}` : "/invitations/accept";
let joined = null;

async function start() {
  if (!token) throw new ApiError(400, { code: "token_invalid" });
  const me = signedInHere() ? await api("GET", "/api/auth/me/").catch(() => null) : null;
  $("#working").hidden = true;
  if (!me) {
    $("#sign-in-link").search = new URLSearchParams({ next: here }).toString();
    $("#sign-up-link").search = new URLSearchParams({ next: here }).toString();
    show($("#anonymous"));
    return;
  }
  const who = $("#signed-in-as");
  who.textContent = who.dataset.text.replace("{email}", me.email);
  show($("#accept-form"));
}

onSubmit($("#accept-form"), () => api("POST", "/api/tenant/invitations/accept/", { token }), {
  done(tenant) {
    joined = tenant;
    show($("#accept-form"), false);
    const text = $("#done .notice");
    text.textContent = text.dataset.text.replace("{name}", tenant.name).replace("{role}", tenant.role);
    show($("#done"));
    text.focus();
  },
});

$("#switch-user").addEventListener("click", async () => {
  await signOut().catch(() => {});
  location.assign(`/sign-in?${new URLSearchParams({ next: here })}`);
});

$("#switch-now").addEventListener("click", async () => {
  try {
    tokensArrived(await api("POST", "/api/auth/tenant/switch/", { tenant: joined.slug }), "switched");
    location.assign("/tenant");
  } catch (error) {
    message($("#page-alert"), describe(error), { focus: true });
  }
});

start().catch((error) => {
  $("#working").hidden = true;
  message($("#page-alert"), describe(error), { focus: true });
});
