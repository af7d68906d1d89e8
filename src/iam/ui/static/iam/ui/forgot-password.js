// Ask for a password-reset link. The answer is the same for every address.
import { $, call, onSubmit, param, show } from "./core.js";

const form = $("#forgot-form");
if (param("email")) form.email.value = param("email");

onSubmit(form, ({ email }) => call("POST", "/api/auth/password/reset/", { email }), {
  done() {
    show($("#done"));
    $("#done").focus();
  },
});
