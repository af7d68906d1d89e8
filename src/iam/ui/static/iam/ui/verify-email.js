// The landing page of the verification link: posts the token, says how it went.
import { $, ApiError, call, describe, signedInHere, takeAfterVerify, takeLinkToken } from "./core.js";

const token = takeLinkToken();

async function verify() {
  if (!token) throw new ApiError(400, { code: "token_invalid" });
  return call("POST", "/api/auth/verify-email/", { token });
}

verify().then(
  (data) => {
    const text = $("#done .notice");
    text.textContent = text.dataset.text.replace("{email}", data.email);
    const next = takeAfterVerify() ?? "/account";
    $("#continue").href = signedInHere() ? next : `/sign-in?${new URLSearchParams({ next })}`;
    $("#working").hidden = true;
    $("#done").hidden = false;
    $("#continue").focus();
  },
  (error) => {
    $("#failed .alert").textContent = describe(error);
    $("#working").hidden = true;
    $("#failed").hidden = false;
  },
);
