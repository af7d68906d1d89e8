// Delete the account: the password, and a second-factor code when MFA is on.
import { $, api, consolePage, onSubmit, show, signedOut } from "./core.js";

const form = $("#delete-form");

consolePage().then(async (me) => {
  form["account-username"].value = me.email;
  const mfa = await api("GET", "/api/auth/mfa/");
  show($("#delete-code-field"), mfa.enabled);
}, () => {});

onSubmit(
  form,
  ({ password, code }) =>
    api("DELETE", "/api/auth/me/", $("#delete-code-field").hidden ? { password } : { password, code }),
  {
    done: () => signedOut("account_deleted"),
    failed(error) {
      if (error.code === "mfa_code_required") show($("#delete-code-field"));
    },
    fieldFor: (code) => ({ invalid_password: "password", invalid_code: "code", mfa_code_required: "code" })[code] ?? null,
  },
);
