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

function signedIn(data) {
  tokensArrived(data, "signed-in");
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
    call("POST", "/api/auth/login/mfa/", { mfa_token: mfaToken, code: mode === "totp" ? code : backup_code }),
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
    const url = new URL(provider.begin_url ?? provider.url, location.origin);
    url.searchParams.set("next", next);
    const name = provider.display_name ?? provider.name;
    box.append(h("a", { class: "button secondary wide", href: url.toString() }, box.dataset.label.replace("{name}", name)));
  }
  show($("#social"));
});
