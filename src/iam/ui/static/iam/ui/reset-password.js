// The landing page of the reset link: a new password, then every session of the account ends.
import { $, ApiError, call, onSubmit, show, signedOut, takeLinkToken } from "./core.js";

const form = $("#reset-form");
const token = takeLinkToken(); // kept in memory; the address bar forgets it

onSubmit(
  form,
  async ({ password }) => {
    if (!token) throw new ApiError(400, { code: "token_invalid" });
    return call("POST", "/api/auth/password/reset/confirm/", { token, password });
  },
  {
    done() {
      signedOut("signed_out"); // the IAM ended every session: so do the other tabs
      show(form, false);
      show($("#done"));
      $("#done .notice").focus();
    },
    failed(error) {
      show($("#new-link"), ["token_invalid", "token_expired", "token_used"].includes(error.code));
    },
  },
);
