"""``make mutate``: security checks must be load-bearing. Each mutation below switches one check
off (or turns it around) in a scratch copy of the source, never in the working tree, and runs the
tests that must notice. A mutation the tests survive fails the run, and so does a mutation whose
target text is gone or no longer unique (the list cannot rot silently: when code moves, move the
mutation with it).

Usage: ``python scripts/mutate.py [-k SUBSTRING] [--list]``. Exit status 0 when every mutation
was killed. The unmutated copy runs every listed test first: they must pass, or no kill means
anything.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("src", "config", "tests", "examples", "manage.py", "pyproject.toml")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "var", ".pytest_cache")
# plugins these tests do not use: a second or two less per run (hypothesis is slow to import)
PLUGINS_OFF = ("-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest")


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # relative to the repository
    old: str  # must occur exactly once
    new: str
    tests: tuple[str, ...]  # pytest node ids that must fail


MUTATIONS = [
    Mutation(
        "revocation without the can_introspect check",
        "src/iam/oauth/apis.py",
        'if not client.can_introspect:\n            raise OAuthError("unauthorized_client", '
        '"This client may not revoke tokens.", 403)',
        'if False:\n            raise OAuthError("unauthorized_client", '
        '"This client may not revoke tokens.", 403)',
        ("tests/oauth/test_oauth.py::test_a_client_without_can_introspect_cannot_revoke",),
    ),
    Mutation(
        "a refresh token's sub not checked at revocation",
        "src/iam/oauth/services.py",
        '    if str(session.user_id) != token["sub"]:\n'
        "        return None\n"
        "    return token, session",
        "    return token, session",
        (
            "tests/oauth/test_oauth.py"
            "::test_revocation_checks_that_the_refresh_token_is_the_sessions_users",
        ),
    ),
    Mutation(
        "an access token's sub not checked at revocation",
        "src/iam/oauth/services.py",
        'DeviceSession.objects.filter(pk=access["sid"], user_id=access["sub"]).first()',
        'DeviceSession.objects.filter(pk=access["sid"]).first()',
        (
            "tests/oauth/test_oauth.py"
            "::test_revocation_checks_that_the_refresh_token_is_the_sessions_users",
        ),
    ),
    Mutation(
        "revocation by an access token ends nothing",
        "src/iam/oauth/services.py",
        '        session = DeviceSession.objects.filter(pk=access["sid"], user_id=access["sub"])',
        "        session = DeviceSession.objects.none()",
        ("tests/oauth/test_oauth.py::test_revocation_by_a_user_access_token_ends_its_session",),
    ),
    Mutation(
        "TOTP replay guard: last_used_step__lt becomes __lte",
        "src/iam/mfa/verification.py",
        "Q(last_used_step__lt=step)",
        "Q(last_used_step__lte=step)",
        (
            "tests/mfa/test_second_factor_races.py"
            "::test_a_code_spent_after_this_request_read_the_device_is_refused",
        ),
    ),
    Mutation(
        "audience check off",
        "src/iam/tokens/backend.py",
        '"verify_aud": self.audience is not None',
        '"verify_aud": False',
        ("tests/tokens/test_backend.py::test_wrong_claims_are_rejected_even_when_properly_signed",),
    ),
    Mutation(
        "typ check off",
        "src/iam/tokens/backend.py",
        'if header.get("alg") != self.algorithm or header.get("typ") != self.typ:',
        'if header.get("alg") != self.algorithm:',
        ("tests/tokens/test_backend.py::test_refresh_typ_swapped_into_access_is_rejected",),
    ),
    Mutation(
        "the codec's fast segment decoding takes a second encoding of the same bytes",
        "src/iam/tokens/backend.py",
        "            if base64url_encode(decoded) == segment:",
        "            if True:",
        ("tests/tokens/test_codec.py::test_every_short_segment_gets_pyjwts_answer",),
    ),
    Mutation(
        "the codec's fast segment decoding takes characters outside base64url",
        "src/iam/tokens/backend.py",
        "_UNPADDED_BASE64URL.fullmatch(segment)",
        "_UNPADDED_BASE64URL.match(segment)",
        ("tests/tokens/test_codec.py::test_every_short_segment_gets_pyjwts_answer",),
    ),
    Mutation(
        "CORS: a request with an Origin skips the library's checks",
        "src/iam/core/cors.py",
        'if request.META.get("HTTP_ORIGIN"):',
        "if False:",
        ("tests/core/test_cors.py::test_every_answer_is_the_librarys",),
    ),
    Mutation(
        "CSP: a page's nonce left out of its policy",
        "src/iam/core/csp.py",
        "            get_nonce(request)  # generated: the header carries it",
        "            False",
        ("tests/core/test_csp.py::test_every_header_is_djangos",),
    ),
    Mutation(
        "claim types not checked",
        "src/iam/tokens/backend.py",
        "            token_claims_check(claims)\n",
        "            pass\n",
        (
            "tests/tokens/test_malformed_claims.py"
            "::test_an_access_token_with_a_malformed_claim_is_refused_everywhere",
        ),
    ),
    Mutation(
        "aud as a list accepted",
        "src/iam/tokens/claims.py",
        '"aud": _text,',
        '"aud": lambda value: bool(value),',
        (
            "tests/tokens/test_malformed_claims.py"
            "::test_iam_client_and_the_iam_agree['aud'-['iam-test-api']]",
        ),
    ),
    Mutation(
        "reuse condition inverted (an old refresh token passes as the grace one)",
        "src/iam/sessions/services.py",
        "        jti == session.previous_refresh_jti\n        and rotated_at is not None",
        "        jti != session.previous_refresh_jti\n        and rotated_at is not None",
        ("tests/sessions/test_rotation.py",),
    ),
    Mutation(
        "a revoked session's access token accepted",
        "src/iam/sessions/auth_state.py",
        "    if row.revoked_at is not None:\n        raise TokenInvalid()",
        "    if False:\n        raise TokenInvalid()",
        (
            "tests/authn/test_refresh_and_logout.py::test_logout_by_bearer_sid",
            "tests/sessions/test_apis.py::test_a_revoked_access_token_cannot_list",
        ),
    ),
    Mutation(
        "the invalidation channel's idle check ignores what redis-py has already read",
        "src/iam/sessions/auth_state.py",
        'return bool(buffer.unread_bytes()) if hasattr(buffer, "unread_bytes") else None',
        'return False if hasattr(buffer, "unread_bytes") else None',
        (
            "tests/sessions/test_subscription_idle_check.py::"
            "test_bytes_redis_py_has_read_and_not_parsed_are_pending",
        ),
    ),
    Mutation(
        "the idle check ignores what hiredis (the configured parser) holds unparsed",
        "src/iam/sessions/auth_state.py",
        'return bool(reader.has_data()) if hasattr(reader, "has_data") else None',
        'return False if hasattr(reader, "has_data") else None',
        (
            "tests/sessions/test_subscription_idle_check.py::"
            "test_bytes_redis_py_has_read_and_not_parsed_are_pending",
        ),
    ),
    Mutation(
        "a subscription that has not proven it still delivers is trusted",
        "src/iam/sessions/auth_state.py",
        "        return now - self._proven_at <= LIVENESS_SECONDS",
        "        return True",
        (
            "tests/sessions/test_subscription_liveness.py::"
            "test_after_a_quiet_spell_requests_go_to_redis_until_the_answer_is_read",
        ),
    ),
    Mutation(
        "CSRF skipped for cookie-authenticated requests",
        "src/iam/authn/authentication.py",
        "        if from_cookie:\n            enforce_csrf(request._request)",
        "        if False:\n            enforce_csrf(request._request)",
        ("tests/authn/test_cross_site.py",),
    ),
    Mutation(
        "CSRF skipped for the refresh cookie",
        "src/iam/authn/apis.py",
        '                raise TokenInvalid("No refresh token was presented.")\n'
        "            enforce_csrf(request._request)",
        '                raise TokenInvalid("No refresh token was presented.")',
        (
            "tests/authn/test_refresh_and_logout.py::test_cookie_refresh_without_csrf_is_refused",
            "tests/authn/test_refresh_and_logout.py::test_cross_site_post_cannot_refresh_or_log_out",
        ),
    ),
    Mutation(
        "tenant mismatch check off (X-Tenant against the token)",
        "src/iam/authn/authentication.py",
        "if asked and tenant is not None and asked != tenant.slug:",
        "if False:",
        (
            "tests/tenancy/test_claims_and_switch.py"
            "::test_a_header_naming_another_tenant_than_the_token_is_refused",
        ),
    ),
    Mutation(
        "sign-in delays (lockout) not checked",
        "src/iam/authn/flows.py",
        "    login_lockout_check(  # before any hashing\n"
        "        account_key=account_key,\n"
        "        ip=client.ip,\n"
        "        user_id=user.pk if user else None,\n"
        "        read_ahead=lock_read_ahead,\n"
        "    )\n",
        "",
        ("tests/authn/test_lockout.py",),
    ),
    Mutation(
        "a password changed between the check and the lock goes unnoticed",
        "src/iam/authn/flows.py",
        "still = current == unchanged if unchanged is not None",
        "still = True if unchanged is not None",
        (
            "tests/mfa/test_second_factor_races.py"
            "::test_a_password_changed_between_the_check_and_the_lock_refuses_the_sign_in",
        ),
    ),
    Mutation(
        "membership not re-checked at the code step",
        "src/iam/authn/flows.py",
        "        membership = membership_get(user_id=passed.user.pk, tenant_id=passed.tenant_id)\n"
        "        if membership is None:",
        "        membership = membership_get(user_id=passed.user.pk, tenant_id=passed.tenant_id)\n"
        "        if False:",
        (
            "tests/mfa/test_second_factor_races.py"
            "::test_a_membership_removed_between_the_password_and_the_code_step_is_refused",
        ),
    ),
    Mutation(
        "admin login outside the API's login limits",
        "src/iam/mfa/admin_site.py",
        "            if wait > 0:",
        "            if False:",
        ("tests/authn/test_admin_login_limits.py",),
    ),
    Mutation(
        "addresses compared without NFKC (case folding only)",
        "src/iam/core/identifiers.py",
        'return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())',
        "return text.casefold()",
        ("tests/accounts/test_address_spelling.py",),
    ),
    Mutation(
        "an invitation accepted by another address",
        "src/iam/tenancy/services.py",
        "if user.email_key != invitation.email_key or not user.email_verified:",
        "if not user.email_verified:",
        (
            "tests/accounts/test_address_spelling.py"
            "::test_an_invitation_to_the_dotted_i_spelling_is_not_kims",
        ),
    ),
    Mutation(
        "social auto-link by the comparison key alone (a look-alike address takes the account)",
        "src/iam/social/flows.py",
        "        and same_address(identity.email, user.email)\n",
        "",
        (
            "tests/social/test_linking.py"
            "::test_auto_link_never_takes_an_account_whose_address_only_folds_like_the_providers",
        ),
    ),
    Mutation(
        "an ID token's single use keyed by its text (padding on the signature replays it)",
        "src/iam/social/services.py",
        'signed = id_token.rsplit(".", 1)[0]',
        "signed = id_token",
        (
            "tests/social/test_native.py"
            "::test_an_id_token_works_once_however_its_signature_is_written",
        ),
    ),
    Mutation(
        "a prepared query keeps the clock of its first call (an expiry never passes)",
        "src/iam/core/sql.py",
        "if found.issuperset(self._examples) and not frozen:",
        "if found.issuperset(self._examples):",
        (
            "tests/core/test_sql.py::test_a_query_that_reads_the_clock_is_never_frozen_at_its_first_call",
        ),
    ),
    Mutation(
        "~permission without its tenant check",
        "src/iam/tenancy/permissions.py",
        "return OperandHolder(AND, IsTenantMember, SingleOperandHolder(NOT, self))",
        "return SingleOperandHolder(NOT, self)",
        ("tests/tenancy/test_permissions.py",),
    ),
    Mutation(
        "plain-class & permission composed as |",
        "src/iam/tenancy/permissions.py",
        "    def __rand__(self, other: Any) -> OperandHolder:\n"
        "        return OperandHolder(AND, other, self)",
        "    def __rand__(self, other: Any) -> OperandHolder:\n"
        "        return OperandHolder(OR, other, self)",
        ("tests/tenancy/test_permissions.py",),
    ),
    Mutation(
        "the limits' script counts on past a refusal",
        "src/iam/core/ratelimit.py",
        "    redis.call('DECR', key)\n    return {i, counts, {}}\n",
        "    redis.call('DECR', key)\n",
        (
            "tests/core/test_limits_in_one_round_trip.py::test_attempts_refused_per_ip_spend_nothing_of_the_accounts_allowance[redis]",
            "tests/core/test_limits_in_one_round_trip.py::test_takes_count_in_order_and_stop_at_the_first_refusal[redis]",
        ),
    ),
    Mutation(
        "one-by-one limits count on past a refusal",
        "src/iam/core/ratelimit.py",
        "            _hand_back(backend, take.key)\n"
        "            return TakenInOrder(counts=counts, refused=index, found={})",
        "            _hand_back(backend, take.key)",
        (
            "tests/core/test_limits_in_one_round_trip.py::test_attempts_refused_per_ip_spend_nothing_of_the_accounts_allowance[locmem]",
            "tests/authn/test_login.py",
        ),
    ),
    Mutation(
        "the lock states read ahead forget a lock",
        "src/iam/core/ratelimit.py",
        "        return {key: self.found[key] for key in keys if key in self.found}",
        "        return {}",
        (
            "tests/authn/test_lockout.py::test_after_five_wrong_passwords_even_the_right_one_waits",
            "tests/core/test_limits_in_one_round_trip.py::test_a_locked_account_is_refused_before_the_hash_with_the_read_ahead[locmem]",
        ),
    ),
]


def _copy(scratch: Path) -> None:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, scratch / name, ignore=IGNORED)
        else:
            shutil.copy2(source, scratch / name)


def _env(scratch: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",  # a restored file must never meet a stale .pyc
        "PYTHONPATH": os.pathsep.join([str(scratch / "src"), str(scratch)]),
    }
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _imports_the_copy(scratch: Path) -> None:
    """The scratch copy, not the working tree (installed editable), is what the tests import."""
    probe = "import iam, tests; print(iam.__file__); print(tests.__file__)"
    done = subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, "-c", probe],
        cwd=scratch,
        env=_env(scratch),
        capture_output=True,
        text=True,
        check=True,
    )
    if not all(Path(line).is_relative_to(scratch) for line in done.stdout.split()):
        raise SystemExit(f"the tests would not import the scratch copy:\n{done.stdout}")


def _pytest(scratch: Path, tests: list[str]) -> tuple[int, str]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", *PLUGINS_OFF, *tests]
    done = subprocess.run(  # noqa: S603 (this interpreter, the listed tests)
        command, cwd=scratch, env=_env(scratch), capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout + done.stderr


def _target(scratch: Path, mutation: Mutation) -> tuple[Path, str]:
    path = scratch / mutation.path
    text = path.read_text()
    found = text.count(mutation.old)
    if found != 1:
        raise SystemExit(
            f"mutation {mutation.name!r}: its target text occurs {found} times in "
            f"{mutation.path} (must be exactly once); update scripts/mutate.py with the code"
        )
    return path, text


def _summary(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _run(scratch: Path, mutation: Mutation) -> tuple[str, str]:
    """Apply one mutation to ``scratch``, run its tests, restore: ``(verdict, pytest output)``."""
    path, original = _target(scratch, mutation)
    path.write_text(original.replace(mutation.old, mutation.new))
    try:
        code, output = _pytest(scratch, list(mutation.tests))
    finally:
        path.write_text(original)
    if code == 0:
        return "SURVIVED", output
    if code == 1 and re.search(r"\b\d+ (failed|error)", _summary(output)):
        return "killed", output
    return f"BROKEN (pytest exit {code})", output  # collection or usage error: not a kill


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="only", help="run the mutations whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument(
        "-j", "--jobs", type=int, default=os.cpu_count() or 1, help="mutations run at once"
    )
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or args.only in m.name]
    if args.list:
        for mutation in chosen:
            print(f"{mutation.name}  ({mutation.path})")
        return 0
    if not chosen:
        raise SystemExit("no mutation matches")
    started = time.monotonic()
    jobs = max(1, min(args.jobs, len(chosen)))
    with tempfile.TemporaryDirectory(prefix="iam-mutate-") as tmp:
        copies = [Path(tmp) / f"copy{n}" for n in range(jobs)]  # one per job: no two mutations
        for scratch in copies:  # ever share a file
            scratch.mkdir()
            _copy(scratch)
        for mutation in chosen:  # every target must be there before anything runs
            _target(copies[0], mutation)
        _imports_the_copy(copies[0])
        tests = sorted({test for mutation in chosen for test in mutation.tests})
        code, output = _pytest(copies[0], tests)
        if code != 0:
            print(output)
            raise SystemExit("the tests fail without any mutation: fix them first")
        print(f"baseline: {len(tests)} test selections pass on the unmutated copy", flush=True)
        free: queue.SimpleQueue[Path] = queue.SimpleQueue()
        for scratch in copies:
            free.put(scratch)

        def run(mutation: Mutation) -> tuple[str, str]:
            scratch = free.get()
            try:
                return _run(scratch, mutation)
            finally:
                free.put(scratch)

        results = []
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for mutation, (verdict, output) in zip(chosen, pool.map(run, chosen), strict=True):
                print(f"{verdict:>9}  {mutation.name}  [{_summary(output)}]", flush=True)
                results.append((mutation, verdict, output))
    survivors = [m for m, verdict, _ in results if verdict == "SURVIVED"]
    broken = [(m, output) for m, verdict, output in results if verdict.startswith("BROKEN")]
    elapsed = time.monotonic() - started
    print(
        f"\n{len(chosen)} mutations, {len(survivors)} survived, {len(broken)} broken, "
        f"{elapsed:.0f} s ({jobs} at a time)"
    )
    for mutation, output in broken:
        print(f"\n--- {mutation.name}: pytest could not run the tests ---\n{output[-3000:]}")
    return 1 if survivors or broken else 0


if __name__ == "__main__":
    sys.exit(main())
