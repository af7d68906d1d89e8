// Ask for a new verification link. The answer is the same for every address.
import { $, call, onSubmit, param, show } from "./core.js";

const form = $("#resend-form");
if (param("email")) form.email.value = param("email");

onSubmit(form, ({ email }) => call("POST", "/api/auth/verify-email/resend/", { email }), {
  done() {
    show($("#done"));
    $("#done").focus();
  },
});
