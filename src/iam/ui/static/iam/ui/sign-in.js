// Sign in: password, then the second factor when the account has one; social buttons where the
// IAM offers social sign-in.
import {
  $, $$, api, call, h, message, onSubmit, param, safeNext, say, show,
  signedInHere, socialProviders, tokensArrived, whenSignedInElsewhere,
} from "./core.js";

const next = safeNext(param("next"));
const tenant = param("tenant") || undefined;
const passwordForm = $("#password-form");
const mfaForm = $("#mfa-form");
let mfaToken = null; // the login's second-step token: in memory only
let mode = "totp";

const notice = param("notice");
if (["signed_out", "session_ended", "account_deleted"].includes(notice)) message($("#notice"), say(notice));

// links to the other pages keep where the user is headed
for (const link of $$("[data-keep-next]")) {
  if (param("next")) link.search = new URLSearchParams({ next }).toString();
}

// already signed in (this browser says so and the IAM agrees): go on
if (signedInHere()) api("GET", "/api/auth/me/").then(() => location.replace(next), () => {});
whenSignedInElsewhere(() => location.replace(next));

// after a social sign-in (docs/api.md, "Social sign-in"): an error, the second step, or a link
// to confirm; the pending state is in HttpOnly cookies, never in this page
const socialStep = param("social_step");
const socialError = param("social_error");
let linkPending = false;
if (socialError) message($("#social-error"), say(socialError, say("unknown")));
if (socialStep === "mfa") {
  show(passwordForm, false);
  show(mfaForm);
  $("#mfa-back").hidden = true;
  setMode("totp");
} else if (socialStep === "link") {
  call("GET", "/api/auth/social/link/").then((link) => {
    linkPending = true;
    const text = $("#social-link").dataset.text;
    $("#social-link-text").textContent = text.replace("{email}", link.email).replace("{provider}", link.display_name);
    show($("#social-link"));
    passwordForm.email.value = link.email;
  }, (error) => message($("#social-error"), say(error.code)));
}
$("#social-link-cancel").addEventListener("click", async () => {
  await call("DELETE", "/api/auth/social/link/", {}).catch(() => {});
  linkPending = false;
  show($("#social-link"), false);
});

async function signedIn(data) {
  tokensArrived(data, "signed-in");
  if (linkPending) {
    // the account's owner has just proven it: now the identity may be connected
    try {
      await api("POST", "/api/auth/social/link/", {});
    } catch (error) {
      message($("#social-error"), say(error.code, say("unknown")), { focus: true });
      return;
    }
  }
  location.assign(next);
}

onSubmit(passwordForm, ({ email, password }) => call("POST", "/api/auth/login/", { email, password, tenant }), {
  done(data) {
    if (!data.mfa_required) return signedIn(data);
    mfaToken = data.mfa_token;
    $("#mfa-switch").hidden = !data.methods?.includes("backup_code");
    show(passwordForm, false);
    show(mfaForm);
    setMode("totp");
  },
  failed(error) {
    // an unverified address: offer a new link, for that address
    const unverified = error.code === "email_not_verified";
    if (unverified) $("#unverified-link").search = new URLSearchParams({ email: passwordForm.email.value }).toString();
    show($("#unverified"), unverified);
  },
});

function setMode(next) {
  mode = next;
  for (const part of $$("[data-mode]", mfaForm)) show(part, part.dataset.mode === mode);
  const other = mode === "totp" ? "backup" : "totp";
  $("#mfa-switch").textContent = $("#mfa-switch").dataset[other];
  (mode === "totp" ? mfaForm.code : mfaForm.backup_code).focus();
}

$("#mfa-switch").addEventListener("click", () => setMode(mode === "totp" ? "backup" : "totp"));
$("#mfa-back").addEventListener("click", backToPassword);

function backToPassword() {
  mfaToken = null;
  mfaForm.reset();
  show(mfaForm, false);
  show(passwordForm);
  passwordForm.password.value = "";
  passwordForm.password.focus();
}

onSubmit(
  mfaForm,
  ({ code, backup_code }) =>
    // after a social sign-in the pending sign-in is an HttpOnly cookie: the code goes alone
    call("POST", "/api/auth/login/mfa/", {
      ...(mfaToken ? { mfa_token: mfaToken } : {}),
      code: mode === "totp" ? code : backup_code,
    }),
  {
    done: signedIn,
    fieldFor: (code) => (code === "invalid_code" ? (mode === "totp" ? "code" : "backup_code") : null),
    failed(error) {
      if (error.code !== "mfa_token_invalid") return;
      backToPassword();
      message($(".alert", passwordForm), say("mfa_token_invalid"));
    },
  },
);

// social sign-in buttons, where this IAM offers social sign-in
socialProviders().then((providers) => {
  if (!providers?.length) return;
  const box = $("#social-buttons");
  for (const provider of providers) {
    const url = new URL(provider.begin_url, location.origin);
    url.searchParams.set("next", new URL(next, location.origin).toString());
    if (tenant) url.searchParams.set("tenant", tenant);
    const name = provider.display_name ?? provider.name;
    box.append(h("a", { class: "button secondary wide", href: url.toString() }, box.dataset.label.replace("{name}", name)));
  }
  show($("#social"));
});
