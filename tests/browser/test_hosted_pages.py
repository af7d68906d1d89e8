"""The hosted pages and the console, end to end in Chromium against a live IAM with a real SMTP
server, reading the mailed links as a person would click them. Every page the journey meets is
screenshotted (wide and 360 px), checked with axe-core and for console errors (CSP included).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from iam.accounts.models import User
from iam.audit.models import AuditEvent
from iam.sessions.models import DeviceSession
from iam.tenancy.models import Membership, Role
from iam.tenancy.services import tenant_create

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "newcomer@example.com"
PASSWORD = "a long passphrase of mine"
NEW_PASSWORD = "another long passphrase, changed"
BOSS = "boss@example.com"
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


# Every answer body the pages' scripts read (Response.json/text), kept in the tab's
# sessionStorage across navigations. Injected by the DevTools protocol, not by the page.
RECORD_READS = """
for (const name of ["json", "text"]) {
  const read = Response.prototype[name];
  Response.prototype[name] = async function () {
    const body = await read.call(this);
    const seen = JSON.parse(sessionStorage.getItem("read-by-scripts") || "[]");
    seen.push(typeof body === "string" ? body : JSON.stringify(body));
    sessionStorage.setItem("read-by-scripts", JSON.stringify(seen));
    return body;
  };
}
"""


def sign_in(page: Any, email: str, password: str) -> None:
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def totp_code(secret: str, *, steps_ahead: int = 0) -> str:
    # codes of the current step and one either side are accepted, each step once
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def test_the_whole_journey_of_a_newcomer(hosted: Any, browsing: Any) -> None:
    boss = User.objects.create_user(email=BOSS, password=PASSWORD, email_verified=True)
    acme = tenant_create(name="Acme", slug="acme", owner=boss)
    globex = tenant_create(name="Globex", slug="globex", owner=boss)

    device = browsing.context()
    device.add_init_script(RECORD_READS)
    page = browsing.page(device)

    # the front door: / → the console → the sign-in page (nothing said: a first visit)
    hosted.open(page, "/")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Faccount$"))
    expect(page.locator("#notice")).to_be_hidden()
    hosted.check(page, "sign-in")

    # sign up
    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(re.compile(r"/sign-up\?next=%2Faccount$"))
    hosted.check(page, "sign-up")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#done-status")).to_contain_text(f"We sent a link to {EMAIL}")
    hosted.check(page, "sign-up-done")

    # the mailed link: verified, then on to the sign-in
    link = hosted.link(EMAIL, "/verify-email?token=")
    page.goto(link)
    expect(page.locator("#done .notice")).to_have_text(f"Thank you: {EMAIL} is verified.")
    assert "token" not in page.url  # the token left the address bar and the history
    hosted.check(page, "verify-email")
    page.get_by_role("link", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))

    # sign in
    sign_in(page, EMAIL, PASSWORD)
    expect(page).to_have_url(hosted.url + "/account")
    hosted.ready(page)
    expect(page.locator("#who-email")).to_have_text(EMAIL)
    hosted.check(page, "account")
    assert "access_token" not in page.evaluate("document.cookie")
    assert "refresh_token" not in page.evaluate("document.cookie")

    # enrol MFA: QR code and key, a code from the app, the backup codes shown once
    page.get_by_role("link", name="Two-factor authentication").click()
    hosted.ready(page)
    expect(page.locator("#status-off")).to_contain_text("Two-factor authentication is off.")
    hosted.check(page, "two-factor-off")
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.locator("#qr")).to_be_visible()
    assert page.locator("#qr").evaluate("img => img.naturalWidth") > 0  # the QR code renders
    secret = page.locator("#secret").inner_text().replace(" ", "")
    hosted.check(page, "two-factor-enrol")
    page.get_by_label("Code shown by the app").fill(totp_code(secret))
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#code-list li")).to_have_count(10)
    backup_codes = page.locator("#code-list li").all_inner_texts()
    hosted.check(page, "two-factor-backup-codes")
    page.get_by_role("button", name="I have saved them").click()
    expect(page.locator("#status-on")).to_contain_text("Two-factor authentication is on.")
    expect(page.locator("#remaining")).to_have_text("Backup codes left: 10.")
    hosted.check(page, "two-factor-on")

    # sign out, then in again with the authenticator
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in\?notice=signed_out$"))
    expect(page.locator("#notice")).to_have_text("You have signed out.")
    sign_in(page, EMAIL, PASSWORD)
    expect(page.get_by_label("Code from your authenticator app")).to_be_focused()
    hosted.check(page, "sign-in-second-factor")
    page.get_by_label("Code from your authenticator app").fill(totp_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(hosted.url + "/account")

    # another device signs in (with a backup code); the first device signs it out
    other_device = browsing.context()
    other = browsing.page(other_device)
    hosted.open(other, "/sign-in")
    sign_in(other, EMAIL, PASSWORD)
    other.get_by_role("button", name="Use a backup code instead").click()
    other.get_by_label("Backup code").fill(backup_codes[0])
    other.get_by_role("button", name="Verify").click()
    expect(other).to_have_url(hosted.url + "/account")

    page.get_by_role("link", name="Devices").click()
    hosted.ready(page)
    expect(page.locator("#session-list li")).to_have_count(2)
    hosted.check(page, "sessions")
    other_row = page.locator("#session-list li").filter(has_not_text="This device")
    other_row.get_by_role("button").click()
    expect(page.locator("#status")).to_have_text("The device was signed out.")
    expect(page.locator("#session-list li")).to_have_count(1)
    other.reload()
    expect(other).to_have_url(re.compile(r"/sign-in\?next=%2Faccount&notice=session_ended$"))
    expect(other.locator("#notice")).to_have_text("Your sign-in has ended. Please sign in again.")

    # the other device resets the password: every session ends, the first device's too
    other.get_by_role("link", name="Forgot your password?").click()
    hosted.check(other, "forgot-password")
    other.get_by_label("E-mail address").fill(EMAIL)
    other.get_by_role("button", name="Send link").click()
    expect(other.locator("#done")).to_be_visible()
    hosted.check(other, "forgot-password-sent")
    other.goto(hosted.link(EMAIL, "/reset-password?token="))
    assert "token" not in other.url
    hosted.check(other, "reset-password")
    other.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    other.get_by_role("button", name="Set password").click()
    expect(other.locator("#done .notice")).to_be_visible()
    hosted.check(other, "reset-password-done")
    assert not DeviceSession.objects.filter(user__email=EMAIL, revoked_at__isnull=True).exists()

    page.get_by_role("link", name="Profile").click()
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Faccount"))
    sign_in(page, EMAIL, NEW_PASSWORD)
    page.get_by_role("button", name="Use a backup code instead").click()
    page.get_by_label("Backup code").fill(backup_codes[1])
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(hosted.url + "/account")

    # the owner of Acme invites the newcomer
    boss_page = browsing.page(browsing.context())
    hosted.open(boss_page, "/sign-in?next=/tenant&tenant=acme")
    sign_in(boss_page, BOSS, PASSWORD)
    expect(boss_page).to_have_url(hosted.url + "/tenant")
    hosted.ready(boss_page)
    expect(boss_page.locator("#tenant-name")).to_have_text("Acme")
    boss_page.get_by_label("E-mail address to invite").fill(EMAIL)
    boss_page.get_by_label("Role", exact=True).select_option("member")
    boss_page.get_by_role("button", name="Send invitation").click()
    expect(boss_page.locator("#invitation-list li")).to_have_count(1)
    hosted.check(boss_page, "tenant-admin")

    # ... who accepts in the browser where they are signed in
    page.goto(hosted.link(EMAIL, "/invitations/accept?token="))
    expect(page.locator("#signed-in-as")).to_have_text(f"You are signed in as {EMAIL}.")
    hosted.check(page, "invitation")
    page.get_by_role("button", name="Accept invitation").click()
    expect(page.locator("#done .notice")).to_have_text("You joined Acme as member.")
    hosted.check(page, "invitation-accepted")
    page.get_by_role("button", name="Work in this organisation now").click()
    expect(page).to_have_url(hosted.url + "/tenant")
    hosted.ready(page)
    expect(page.locator("#tenant-name")).to_have_text("Acme")
    expect(page.locator("#member-list li")).to_have_count(2)
    hosted.check(page, "tenant-member-view")

    # the switcher: into Globex (a member there too), and back
    Membership.objects.create(
        tenant=globex, user=User.objects.get(email=EMAIL), role=Role.objects.get(name="viewer")
    )
    page.get_by_role("link", name="Organisations", exact=True).click()
    hosted.ready(page)
    expect(page.locator("#tenant-list li")).to_have_count(2)
    hosted.check(page, "tenants")
    page.get_by_role("button", name="Switch to Globex").click()
    expect(page).to_have_url(hosted.url + "/tenant")
    expect(page.locator("#tenant-name")).to_have_text("Globex")
    expect(page.locator("#tenant-role")).to_have_text("viewer")
    expect(page.locator("#members")).to_be_hidden()  # a viewer may not read members

    # the owner makes the newcomer an admin of Acme
    boss_page.reload()
    hosted.ready(boss_page)
    row = boss_page.locator("#member-list li").filter(has_text=EMAIL)
    row.get_by_label(f"Role of {EMAIL}").select_option("admin")
    expect(boss_page.locator("#members-status")).to_have_text("Role changed.")
    hosted.check(boss_page, "tenant-role-changed")
    assert Membership.objects.get(tenant=acme, user__email=EMAIL).role.name == "admin"

    # the remaining console pages, as the newcomer
    for link, name in [
        ("Password", "password"),
        ("Security log", "security-log"),
        ("Delete account", "delete"),
    ]:
        page.get_by_role("link", name=link, exact=True).click()
        hosted.ready(page)
        hosted.check(page, name)
    expect(
        page.locator("#delete-code-field")
    ).to_be_visible()  # MFA is on: deletion asks for a code

    # the owner withdraws an invitation and removes the newcomer from Acme
    boss_page.get_by_label("E-mail address to invite").fill("temp@example.com")
    boss_page.get_by_role("button", name="Send invitation").click()
    expect(boss_page.locator("#invitation-list li")).to_have_count(1)
    boss_page.get_by_role("button", name="Withdraw the invitation to temp@example.com").click()
    expect(boss_page.locator("#no-invitations")).to_be_visible()
    expect(boss_page.locator("#invitation-list li")).to_have_count(0)
    boss_page.get_by_role("button", name=f"Remove {EMAIL}").click()
    expect(boss_page.locator("#members-status")).to_have_text("Member removed.")
    expect(boss_page.locator("#member-list li")).to_have_count(1)
    assert not Membership.objects.filter(tenant=acme, user__email=EMAIL).exists()

    # no token was ever readable by the pages' scripts (cookie transport)
    readable = page.evaluate("() => JSON.parse(sessionStorage.getItem('read-by-scripts'))")
    assert len(readable) > 20
    assert not [body for body in readable if JWT.search(body)]
    assert AuditEvent.objects.filter(type="user:mfa:enabled").count() == 1


def test_the_account_console_changes_what_it_says(
    hosted: Any, browsing: Any, settings: Any
) -> None:
    """Profile, e-mail change with its verification, password change, new backup codes, MFA
    off and on again, and deletion with its second-factor confirmation."""
    User.objects.create_user(email=EMAIL, password=PASSWORD, email_verified=True)
    page = browsing.page(browsing.context())
    hosted.open(page, "/sign-in")
    sign_in(page, EMAIL, PASSWORD)
    hosted.ready(page)

    # profile
    page.get_by_label("Name", exact=True).fill("Ada Lovelace")
    page.get_by_label("Username").fill("ada")
    page.locator("#profile-form").get_by_role("button", name="Save").click()
    expect(page.locator("#profile-form .notice")).to_have_text("Saved.")
    assert User.objects.get(email=EMAIL).name == "Ada Lovelace"

    # e-mail change: pending until the link mailed to the new address is opened
    page.get_by_label("New e-mail address").fill("ada@example.org")
    page.locator("#email-form").get_by_label("Current password").fill(PASSWORD)
    page.get_by_role("button", name="Change address").click()
    expect(page.locator("#pending")).to_contain_text("Waiting for verification: ada@example.org")
    hosted.check(page, "account-email-pending")
    page.goto(hosted.link("ada@example.org", "/verify-email?token="))
    expect(page.locator("#done .notice")).to_have_text("Thank you: ada@example.org is verified.")
    page.get_by_role("link", name="Continue").click()
    expect(page).to_have_url(hosted.url + "/account")
    expect(page.locator("#current-email")).to_have_text("ada@example.org")
    expect(page.locator("#pending")).to_be_hidden()

    # password change: a wrong current password is said beside its field
    page.get_by_role("link", name="Password", exact=True).click()
    hosted.ready(page)
    form = page.locator("#password-form")
    form.get_by_label("Current password").fill("not my password at all")
    form.get_by_label("New password").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Change password").click()
    expect(form.get_by_label("Current password")).to_have_accessible_description(
        "The current password is not correct."
    )
    form.get_by_label("Current password").fill(PASSWORD)
    form.get_by_role("button", name="Change password").click()
    expect(form.locator(".notice")).to_be_visible()
    hosted.check(page, "password-changed")

    # MFA on (a session signed in a while ago gives its password first), new backup codes, off
    # (password and code), and on again
    settings.IAM_MFA_REAUTH_AGE = 0
    page.get_by_role("link", name="Two-factor authentication").click()
    hosted.ready(page)
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.locator("#setup-password")).to_be_focused()
    hosted.check(page, "two-factor-password-first")
    page.locator("#setup-password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.locator("#enrol")).to_be_visible()
    settings.IAM_MFA_REAUTH_AGE = 300
    secret = page.locator("#secret").inner_text().replace(" ", "")
    page.get_by_label("Code shown by the app").fill(totp_code(secret))
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#code-list li")).to_have_count(10)
    first_codes = page.locator("#code-list li").all_inner_texts()
    page.get_by_role("button", name="I have saved them").click()

    regen = page.locator("#regen-form")
    regen.get_by_label("Code from your authenticator app, or a backup code").fill("0000-0000-0000")
    regen.get_by_role("button", name="Get new codes").click()
    expect(regen.locator("#regen-code")).to_have_accessible_description(
        "This code is not correct, or it was already used. Try the next code from your app."
    )
    regen.locator("#regen-code").fill(first_codes[0])
    regen.get_by_role("button", name="Get new codes").click()
    expect(page.locator("#code-list li")).to_have_count(10)
    new_codes = page.locator("#code-list li").all_inner_texts()
    assert not set(new_codes) & set(first_codes)
    page.get_by_role("button", name="I have saved them").click()
    expect(page.locator("#remaining")).to_have_text("Backup codes left: 10.")

    off = page.locator("#disable-form")
    off.get_by_label("Password").fill(NEW_PASSWORD)
    off.locator("#disable-code").fill(new_codes[0])
    off.get_by_role("button", name="Turn off").click()
    expect(page.locator("#status-off")).to_be_visible()
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(page.locator("#enrol")).to_be_visible()
    secret = page.locator("#secret").inner_text().replace(" ", "")
    page.get_by_label("Code shown by the app").fill(totp_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#code-list li")).to_have_count(10)
    codes = page.locator("#code-list li").all_inner_texts()
    page.get_by_role("button", name="I have saved them").click()

    # connected accounts (social sign-in is installed; no provider is configured here)
    page.get_by_role("link", name="Connected accounts").click()
    hosted.ready(page)
    expect(page.locator("#none")).to_be_visible()
    expect(page.locator("#none")).to_have_text("No account is connected.")
    expect(page.locator("#connect-section")).to_be_hidden()  # no provider to connect
    hosted.check(page, "connections")

    # deletion: the password and, with MFA on, a code
    page.get_by_role("link", name="Delete account").click()
    hosted.ready(page)
    form = page.locator("#delete-form")
    form.get_by_label("Password").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-code")).to_be_focused()  # the code is missing
    expect(page.locator("#delete-confirm")).to_have_attribute("aria-invalid", "true")
    page.locator("#delete-code").fill(codes[0])
    page.get_by_label("I understand that my account and its data are gone for good.").check()
    hosted.check(page, "delete-filled")
    form.get_by_role("button", name="Delete my account").click()
    expect(page).to_have_url(re.compile(r"/sign-in\?notice=account_deleted$"))
    expect(page.locator("#notice")).to_have_text("Your account is deleted. Goodbye.")
    deleted = User.objects.get(name="")
    assert deleted.deleted_at is not None
    assert not deleted.is_active
