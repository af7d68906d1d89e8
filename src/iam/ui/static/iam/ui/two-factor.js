// Two-factor authentication: enrol an authenticator app (QR code and key), backup codes shown
// once, new backup codes, turn it off.
import { $, api, consolePage, dateTime, h, onSubmit, show } from "./core.js";

const setupForm = $("#setup-form");
let email = "";

async function status() {
  const mfa = await api("GET", "/api/auth/mfa/");
  show($("#status-off"), !mfa.enabled);
  show($("#status-on"), mfa.enabled);
  show($("#enrol"), false);
  show($("#codes"), false);
  if (mfa.enabled) {
    const since = $("#on-since");
    since.textContent = mfa.enabled_at ? since.dataset.text.replace("{date}", dateTime(mfa.enabled_at)) : "";
    const left = $("#remaining");
    left.textContent = left.dataset.text.replace("{n}", String(mfa.backup_codes_remaining));
  }
  return mfa;
}

consolePage().then((me) => {
  email = me.email;
  for (const input of document.querySelectorAll('[name="account-username"]')) input.value = email;
  return status();
}, () => {});

// 1. start: a new secret (the password first, in a session signed in a while ago)
onSubmit(
  setupForm,
  ({ password }) => api("POST", "/api/auth/mfa/totp/setup/", $("#setup-password-field").hidden ? {} : { password }),
  {
    done(setup) {
      setupForm.reset();
      show($("#setup-password-field"), false);
      $("#qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(setup.qr_svg)}`;
      $("#secret").textContent = setup.secret.replace(/(.{4})/g, "$1 ").trim();
      $("#otpauth").href = setup.otpauth_uri;
      show($("#status-off"), false);
      show($("#enrol"));
      $("#enrol-title").focus();
    },
    failed(error) {
      if (error.code === "password_required") {
        show($("#setup-password-field"));
        setupForm.password.focus();
      }
    },
    fieldFor: (code) => (code === "invalid_password" ? "password" : null),
  },
);

$("#enrol-cancel").addEventListener("click", () => status());

// 2. confirm with a code from the app: MFA is on, the backup codes are shown once
onSubmit($("#enable-form"), ({ code }) => api("POST", "/api/auth/mfa/totp/enable/", { code }), {
  done(result) {
    $("#enable-form").reset();
    show($("#enrol"), false);
    showCodes(result.backup_codes);
  },
  fieldFor: (code) => (code === "invalid_code" ? "code" : null),
});

function showCodes(codes) {
  $("#code-list").replaceChildren(...codes.map((code) => h("li", {}, code)));
  const text = `${codes.join("\n")}\n`;
  URL.revokeObjectURL($("#codes-download").href);
  $("#codes-download").href = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  $("#codes-copy").onclick = async () => {
    await navigator.clipboard?.writeText(text);
    $("#codes-copy").textContent = $("#codes-copy").dataset.done;
  };
  show($("#status-on"), false);
  show($("#codes"));
  $("#codes-title").focus();
}

$("#codes-done").addEventListener("click", async () => {
  $("#code-list").replaceChildren(); // gone from the page
  URL.revokeObjectURL($("#codes-download").href);
  $("#codes-download").href = "#";
  await status();
  $("#main").focus();
});

onSubmit($("#regen-form"), ({ code }) => api("POST", "/api/auth/mfa/backup-codes/", { code }), {
  done(result) {
    $("#regen-form").reset();
    showCodes(result.backup_codes);
  },
  fieldFor: (code) => (code === "invalid_code" ? "code" : null),
});

onSubmit($("#disable-form"), ({ password, code }) => api("POST", "/api/auth/mfa/totp/disable/", { password, code }), {
  async done() {
    $("#disable-form").reset();
    await status();
    $("#main").focus();
  },
  fieldFor: (code) => ({ invalid_password: "password", invalid_code: "code" })[code] ?? null,
});
