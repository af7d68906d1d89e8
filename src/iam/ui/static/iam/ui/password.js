// Change the password: the other sessions end, this one stays.
import { $, api, consolePage, onSubmit, show } from "./core.js";

const form = $("#password-form");
consolePage().then((me) => {
  form["account-username"].value = me.email;
}, () => {});

form.addEventListener("submit", () => show($(".notice", form), false));
onSubmit(
  form,
  ({ current_password, new_password }) => api("POST", "/api/auth/password/change/", { current_password, new_password }),
  {
    done() {
      form.current_password.value = "";
      form.new_password.value = "";
      show($(".notice", form));
      $(".notice", form).focus();
    },
  },
);
