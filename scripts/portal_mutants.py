#!/usr/bin/env python3
"""`make portal-mutants`: what the customer's pages guard, broken on purpose one at a time in a
scratch copy of the repository (HEAD, under target/portal-mutants), and the in-process test that
guards it run against each: a mutant the tests do not catch ("survived") fails this run.
`make portal-mutants ONLY="origin check"` runs the named ones. The browser's own mutants (a
missing form label, the print style, scripts left on) are in docs/testing.md.
"""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "target" / "portal-mutants" / "repo"
TARGET = ROOT / "target" / "portal-mutants" / "target"
P = "functions/portal/src/"

MUTANTS = [
 ("origin check", P+'guard.rs', "fetch_site || origin", "false", "portal::a_form_from_another_site portal_pages::every_form_from"),
 ("csrf compare", P+'guard.rs', "if !constant_time_eq(session.csrf.as_bytes(), sent.as_bytes()) {", "if false {", "portal::a_form_from_another_site portal_pages::every_form_from"),
 ("idle ending", P+'session.rs', "} else if ctx.now - session.last_seen_at > app.timing.idle {", "} else if false {", "portal::a_session_ends"),
 ("lifetime ending", P+'session.rs', "let ended = if ctx.now >= session.ends_at {", "let ended = if false {", "portal::a_session_ends"),
 ("role check", P+'signin.rs', 'if who.role.as_deref() != Some("customer_admin") {', "if false {", "portal::only_an_administrator"),
 ("known account", P+'signin.rs', "Ok(None) => Err(refuse(catalog::NOT_ADMIN_UNKNOWN)),", "Ok(None) => Ok(id),", "portal::only_an_administrator"),
 ("sign-out keeps the record", P+'signin.rs', "if let Err(e) = app.store.end_portal_session(&signed.hash).await {", "if let Err(e) = Ok::<(), vls_store::StoreError>(()) {", "portal::a_session_ends"),
 ("another account's agreement", P+'agreements.rs', ".filter(|a| access::agreement_visible(&p, a))", "", "portal_pages::another_accounts"),
 ("another account's reservation", P+'reservations.rs', ".filter(|(a, _)| access::agreement_visible(&p, a))", "", "portal_pages::another_accounts"),
 ("no form key", P+'forms.rs', "key: Some(key),", "key: None,", "portal_pages::a_double_submit portal_pages::reserving_through"),
 ("not via portal", P+'forms.rs', "via: Some(Via::Portal {\n            email: signed.session.email.clone(),\n            email_verified: signed.session.email_verified,\n        }),", "via: None,", "portal_pages::reserving_through"),
 ("cancel form though R11 refuses", P+'subscriptions.rs', "let next = if passes {", "let next = if true {", "portal_pages::a_request_from_the_page"),
 ("404 names the path", P+'pages.rs', "code = escape(code),\n        nothing = catalog::NOTHING_CHANGED,", "code = escape(code),\n        nothing = escape(&ctx.path),", "portal_pages::another_accounts"),
 ("window sentence", P+'catalog.rs', '"Reservations close 30 days before the anniversary ({date}).', '"Reservations close soon ({date}).', "portal_pages::a_refused_reservation"),
 ("home totals", P+'home.rs', "total = s.total,", "total = s.direct,", "portal::an_admin_signs_in"),
 ("review sum", P+'agreements.rs', "sum = before + l.quantity.get(),", "sum = before,", "portal_pages::reserving_through"),
 ("cancellable until", P+'reservations.rs', "until = layout::time(until),", "until = layout::time(r.created_at),", "portal_pages::reserving_through"),
 ("oldest first", P+'home.rs', "list.asked_for(PAGE_SIZE, true,", "list.asked_for(PAGE_SIZE, false,", "portal_pages::older_shows"),
 ("shortfall columns", P+'catalog.rs', 'volume = s["volume"],\n                relied = s["relied_on"],', 'volume = s["relied_on"],\n                relied = s["volume"],', "portal_pages::cancelling_a_reservation"),
 ("P7 preview column", P+'subscriptions.rs', "direct = c.direct,", "direct = c.volume,", "portal_pages::a_covered_subscription"),
]
MUTANTS += [
 ("script in the frame", P+'layout.rs', '<main id=\\"main\\" tabindex=\\"-1\\">{main}</main>', '<main id=\\"main\\" tabindex=\\"-1\\">{main}</main><script></script>', "portal::an_admin_signs_in portal_pages::an_agreement"),
 ("P2 anniversary", P+'agreements.rs', 'anniversary = a.anniversary.format("%Y-%m-%d"),', 'anniversary = a.start_date.format("%Y-%m-%d"),', "portal_pages::an_agreement"),
 ("request link", P+'catalog.rs', '"service_request_exists" => match facts.request {', '"service_request_exists" => match None::<&str> {', "portal_pages::service_requests_are"),
 ("host check", P+'guard.rs', 'pub fn elsewhere(ctx: &Ctx, base: &str) -> Option<Reply> {', 'pub fn elsewhere(ctx: &Ctx, base: &str) -> Option<Reply> {\n    if base.is_empty() || !base.is_empty() {\n        return None;\n    }', "portal::the_pages_answer"),
]


def scratch_copy():
    """HEAD's files, fresh, in the scratch folder."""
    subprocess.run(["rm", "-rf", str(SCRATCH)], check=True)
    SCRATCH.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(SCRATCH)], input=archive, check=True)


def run(name, path, old, new, tests):
    f = SCRATCH / path
    source = f.read_text()
    if source.count(old) != 1:
        return f"not found ({source.count(old)} places)"
    f.write_text(source.replace(old, new))
    try:
        env = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
        r = subprocess.run(["cargo", "test", "-p", "vls-tests", "--test", "api", "--quiet", "--"]
                           + tests.split(), cwd=SCRATCH, env=env, capture_output=True, text=True)
        out = r.stdout + r.stderr
        if "could not compile" in out:
            return "did not compile"
        return "caught" if r.returncode != 0 else "SURVIVED"
    finally:
        f.write_text(source)


def main():
    only = [n.strip() for n in os.environ.get("ONLY", "").split(",") if n.strip()]
    scratch_copy()
    failed = []
    for name, path, old, new, tests in MUTANTS:
        if only and name not in only:
            continue
        verdict = run(name, path, old, new, tests)
        print(f"{verdict:16} {name}", flush=True)
        if verdict != "caught":
            failed.append(name)
    if failed:
        print(f"not caught: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
