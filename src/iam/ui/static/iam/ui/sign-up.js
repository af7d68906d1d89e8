// Sign up: the account is created unverified and a link is mailed.
import { $, $$, call, onSubmit, param, rememberAfterVerify, safeNext, show } from "./core.js";

const form = $("#sign-up-form");
const next = param("next") ? safeNext(param("next")) : null;
for (const link of $$("[data-keep-next]")) if (next) link.search = new URLSearchParams({ next }).toString();
if (param("email")) form.email.value = param("email");

onSubmit(form, ({ email, password }) => call("POST", "/api/auth/register/", { email, password }), {
  done(data) {
    // the mailed link opens in a new tab: it finds there where the user was headed
    rememberAfterVerify(next);
    show(form, false);
    const status = $("#done-status");
    status.textContent = status.dataset.text.replace("{email}", data?.email ?? form.email.value);
    show($("#done"));
    status.focus();
  },
});
