#!/usr/bin/env python3
"""`make mutants`: each of the deployment's guarded facts broken on purpose, in a scratch copy
of the repository, and the suite shown failing on it. A mutant the suite does not catch
("survived") fails this run.

For each mutant: the copy's template.yaml is changed, translated, and run as the template
stack (Cognito-shaped, the black-box tests against it, then its checks), and the contract
tests read it; the mutant is caught when any of them fails. The binaries are built once in
the copy (its own target directory, kept between runs under target/mutants).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "target" / "mutants" / "repo"
TARGET = ROOT / "target" / "mutants" / "target"
PORT = 9040

BLACKBOX = [
    "blackbox::the_walkthrough_over_http", "blackbox::remap_and_cancellation",
    "blackbox::the_licence_guard_over_http", "blackbox::the_true_up_job_as_a_scheduled_event",
    "blackbox::the_agreement_s_other_routes", "blackbox::a_remap_and_an_amendment",
    "blackbox::activation_over_http_with_the_mailer", "blackbox::the_osm_signs_in_and_associates",
    "template_stack::",
]


def drop_lines(pattern):
    return lambda t: _changed(t, re.sub(pattern, "", t, flags=re.M))


def _changed(before, after):
    if before == after:
        raise SystemExit("a mutant changed nothing: the template moved, update scripts/mutants.py")
    return after


def drop_in(resource, pattern):
    """Removes the lines matching `pattern` inside one resource's block."""
    def mutate(t):
        start = t.index(f"\n  {resource}:\n")
        end = re.search(r"\n  \S", t[start + 3:]).start() + start + 3
        block = re.sub(pattern, "", t[start:end], count=1, flags=re.M)
        return _changed(t, t[:start] + block + t[end:])
    return mutate


def replace_in(resource, old, new):
    def mutate(t):
        start = t.index(f"\n  {resource}:\n")
        end = re.search(r"\n  \S", t[start + 3:]).start() + start + 3
        return _changed(t, t[:start] + t[start:end].replace(old, new, 1) + t[end:])
    return mutate


MUTANTS = {
    # The control: nothing changed, everything must pass (or no mutant's failure means much).
    "none (the control)": lambda t: t,
    "the claim mapping removed": drop_lines(r"^        OIDC_(ROLE|ACCOUNT|PARTNER)_CLAIM: .*\n"),
    "DeleteItem removed from the cancellation's policy":
        drop_in("CancellationFunction", r"^\s+- dynamodb:DeleteItem\n"),
    "an environment variable removed from a function (the true-up's queue)":
        drop_in("TrueUpFunction", r"^\s+TRUE_UP_QUEUE_URL: .*\n"),
    "a route removed (POST /agreements/{agreement_id}/reservations)":
        lambda t: _changed(t, re.sub(r"\n  PostReservationRoute:\n(    .*\n)+", "\n", t)),
    "the authorizer's audience changed":
        replace_in("Jwt", "!If [CreateUserPool, !Ref ApiClient, !Ref JwtAudience]",
                   "!If [CreateUserPool, !Ref SignInClient, !Ref JwtAudience]"),
    "a secret put back into an Environment":
        replace_in("ReservationsFunction", "VLS_CURSOR_KEY_SECRET_ARN: !Ref CursorKeySecret",
                   'VLS_CURSOR_KEY: !Sub "{{resolve:secretsmanager:${CursorKeySecret}:SecretString}}"'),
}


def copy():
    if SCRATCH.exists():
        shutil.rmtree(SCRATCH)
    ignore = shutil.ignore_patterns("target", ".venv", ".run", ".git", "__pycache__")
    shutil.copytree(ROOT, SCRATCH, ignore=ignore)
    (SCRATCH / ".venv").symlink_to(ROOT / ".venv")
    (SCRATCH / ".run").mkdir()


def env():
    e = dict(os.environ, CARGO_TARGET_DIR=str(TARGET))
    return e


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=SCRATCH, env=env(), **kw)


def stack_up(log):
    desc = SCRATCH / ".run" / "stack.json"
    desc.unlink(missing_ok=True)
    p = subprocess.Popen(
        [".venv/bin/python", "-m", "scripts.stack.run", "--shape", "cognito", "--base-port",
         str(PORT), "--binaries", str(TARGET / "debug"), "--template", "target/template.cfn.json",
         "--describe", str(desc), "--log", str(log)],
        cwd=SCRATCH, env=env(), stdout=open(log, "a"), stderr=subprocess.STDOUT)
    for _ in range(120):
        if desc.exists():
            return p, json.loads(desc.read_text())
        if p.poll() is not None:
            return p, None
        time.sleep(0.5)
    return p, None


def caught(name, mutate) -> tuple[bool, str]:
    template = SCRATCH / "template.yaml"
    original = (ROOT / "template.yaml").read_text()
    template.write_text(mutate(original))
    (SCRATCH / "target").mkdir(exist_ok=True)
    t = run([".venv/bin/python", "scripts/sam_translate.py", "template.yaml",
             "target/template.cfn.json"], capture_output=True, text=True)
    if t.returncode != 0:
        return True, "the template no longer translates"
    c = run(["cargo", "test", "-p", "vls-tests", "--test", "contract", "--quiet"],
            capture_output=True, text=True)
    contract = "contract tests fail" if c.returncode != 0 else None
    log = SCRATCH / ".run" / "stack.log"
    p, stack = stack_up(log)
    try:
        if stack is None:
            return True, "the template stack does not come up" + (f"; {contract}" if contract else "")
        e = dict(env(), VLS_TEMPLATE_STACK=str(SCRATCH / ".run" / "stack.json"),
                 VLS_BASE_URL=stack["api"], TABLE_NAME=stack["table"],
                 TRUE_UP_QUEUE_URL=stack["true_up_queue"])
        s = subprocess.run(["cargo", "test", "-p", "vls-tests", "--test", "stack", "--quiet", "--",
                            "--ignored", "--test-threads=1", *BLACKBOX],
                           cwd=SCRATCH, env=e, capture_output=True, text=True)
        failed = sorted(set(re.findall(r"^    (\S+)$", s.stdout, re.M)))
        why = [w for w in (contract, f"failing: {', '.join(failed)}" if failed else None) if w]
        return bool(why), "; ".join(why) or "every test passed"
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)


def main() -> int:
    subprocess.run([str(ROOT / "scripts" / "browser-deps.sh")], check=True)
    copy()
    print("== building the copy's functions and tests (once)", flush=True)
    b = run(["cargo", "build", "--workspace", "--exclude", "vls-bench", "--bins", "--tests",
             "--quiet"])
    if b.returncode != 0:
        return 1
    survived = 0
    for name, mutate in MUTANTS.items():
        ok, why = caught(name, mutate)
        if name.startswith("none"):
            print(f"{'FAILS   ' if ok else 'passes  '}  {name}: {why}", flush=True)
            if ok:
                return 1
            continue
        survived += not ok
        print(f"{'caught  ' if ok else 'SURVIVED'}  {name}: {why}", flush=True)
    (SCRATCH / "template.yaml").write_text((ROOT / "template.yaml").read_text())
    print(f"\n{len(MUTANTS) - 1 - survived} caught, {survived} survived")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
