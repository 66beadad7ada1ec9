#!/usr/bin/env python3
"""keyroled's IAM Identity Center token store, logins and portal calls
(daemon/sso_token.c, sso_portal.c, sso_login.c, sso_api.c, http.c's GET)
driven on the daemon's own loop by build/tests/tools/sso_probe, against
tests/lib/fake_sso.py: the AWS CLI's cache file (read, never written),
botocore's refresh window and rules, single-flight refreshes, refused and
expired tokens, legacy profiles, the keyring item across a restart, device
logins (joined, slow_down, denied, expired), `sso profiles` paging, logout,
and no secret in anything the probe prints.
"""

import json
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402
from fake_sso import FakeSSO, cli_token_cache_key, write_cli_token_cache  # noqa: E402

A1, A2, A3 = "111111111111", "222222222222", "333333333333"
DEV = "Developer"


class Probe:
    """One sso_probe process: commands in, one JSON line per answer out."""

    def __init__(self, run, fake, home, session="corp", cache="memory", cli=True, extra=(),
                 oidc=None):
        self.fake = fake
        self.session = session
        start = fake.start_url
        key = cli_token_cache_key(start, session)
        self.cli_file = os.path.join(home, ".aws", "sso", "cache", key + ".json")
        argv = [krtest.require_file(krtest.tool("sso_probe"), "sso_probe"),
                "--portal", fake.portal_url, "--oidc", oidc or fake.oidc_url, "--start-url", start,
                "--region", fake.region, "--cache-key", key, "--cache", cache]
        if session:
            argv += ["--session", session]
        if cli:
            argv += ["--cli-file", self.cli_file]
        argv += list(extra)
        self.err = open(run.path("probe-%s.err" % uuid.uuid4().hex[:8]), "w+")
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err, text=True, env=krtest.clean_env())
        self.out = []
        self.rc = None
        run.add_cleanup(self.stop)

    def cmd(self, line, n=1, timeout=60):
        """Send one command; -> its n answers (dicts)."""
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            text = self.p.stdout.readline()
            if not text:
                break
            self.out.append(text)
            got.append(json.loads(text))
        return got

    def one(self, line, timeout=60):
        got = self.cmd(line, 1, timeout)
        return got[0] if got else {}

    def stderr(self):
        if self.err.closed:
            return self.errtext
        self.err.seek(0)
        return self.err.read()

    def stop(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.close()
            except OSError:
                pass
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                krtest.stop_process(self.p)
        self.rc = self.p.returncode
        if not self.err.closed:
            self.err.seek(0)
            self.errtext = self.err.read()
            self.err.close()


def file_state(path):
    st = os.stat(path)
    with open(path, "rb") as f:
        return f.read(), st.st_mtime_ns


def main(tap, run):
    krtest.require_file(krtest.tool("sso_probe"), "sso_probe")
    fake = run.adopt(FakeSSO(page_size=2, device_interval=1))
    fake.add_user("alice")
    for a in (A1, A2, A3):
        fake.add_account(a, name="acct-" + a[:3])
    fake.add_role(A1, DEV, users=["alice"], moto=False)
    fake.add_role(A1, "Admin", users=["alice"], moto=False)
    fake.add_role(A2, "ReadOnly", users=["alice"], moto=False)
    fake.add_role(A3, "Audit", users=["alice"], moto=False)
    probes = []

    def new(home=None, **kw):
        p = Probe(run, fake, home or run.home(), **kw)
        probes.append(p)
        return p

    def cli(home, session="corp", **tok):
        t = fake.issue_token("alice", **tok)
        path = write_cli_token_cache(home, t, session_name=session)
        return t, path

    def all_ok(answers):
        return bool(answers) and all(a.get("ok") for a in answers)

    # ---- the AWS CLI's file ----
    with tap.test("a fresh token in the CLI's file: role credentials, no refresh, file untouched"):
        home = run.home()
        tok, path = cli(home)
        before = file_state(path)
        fake.reset_counts()
        p = new(home)
        got = p.cmd("creds %s %s 20" % (A1, DEV), 20)
        tap.ok(all_ok(got) and len(got) == 20, "20 answers, all credentials", got[:2])
        tap.ok(all(a.get("has_secret") and a.get("has_token") for a in got),
               "each has a secret and a session token")
        tap.is_(fake.count("CreateToken"), 0, "no CreateToken")
        tap.is_(fake.count("GetRoleCredentials"), 20, "one GetRoleCredentials each (the cache's "
                "single flight is fetch.c's)")
        st = p.one("status")
        tap.is_([(s["session"], s["from"], s["refresh_token"]) for s in st.get("sessions", [])],
                [("corp", "aws-cli-cache", True)], "status: corp, from the CLI's cache")
        tap.is_(file_state(path), before, "the CLI's file: same bytes, same mtime")

    with tap.test("less than 15 minutes left: exactly one refresh for 10 callers; file untouched"):
        home = run.home()
        tok, path = cli(home, ttl=600)
        before = file_state(path)
        fake.reset_counts()
        p = new(home)
        got = p.cmd("creds %s %s 10" % (A1, DEV), 10)
        tap.ok(all_ok(got) and len(got) == 10, "10 answers, all credentials", got[:2])
        tap.is_(fake.count("CreateToken:refresh_token"), 1, "one CreateToken (refresh_token)")
        tap.ok(not fake.refresh_valid(tok["refreshToken"]), "the old refresh token was used")
        st = p.one("status")
        s = (st.get("sessions") or [{}])[0]
        tap.is_((s.get("from"), s.get("refresh_token")), ("refresh", True),
                "status: refreshed, a (rotated) refresh token held")
        tap.ok(s.get("expiration", 0) > time.time() + 3000, "the new token lasts the fake's hour")
        got = p.cmd("creds %s %s 3" % (A1, DEV), 3)
        tap.ok(all_ok(got) and fake.count("CreateToken") == 1, "later callers: no more refreshes")
        tap.is_(file_state(path), before, "the CLI's file: same bytes, same mtime")

    with tap.test("a refresh that fails goes on with the old token while it is valid"):
        home = run.home()
        cli(home, ttl=600)
        fake.reset_counts()
        fake.fail_next(3, "500", api="CreateToken")
        p = new(home)
        got = p.cmd("creds %s %s 4" % (A1, DEV), 4)
        tap.ok(all_ok(got), "credentials with the old token", got[:1])
        tap.is_(fake.count("CreateToken"), 3, "the refresh was tried 3 times (2 retries), once")
        fake.clear_faults()

    with tap.test("a token in use is refreshed in the background before its window"):
        home = run.home()
        cli(home, ttl=15 * 60 + 60 + 3)  # the background refresh is due in 3 s
        fake.reset_counts()
        p = new(home)
        tap.ok(all_ok(p.cmd("creds %s %s" % (A1, DEV))), "credentials, no refresh yet")
        tap.is_(fake.count("CreateToken"), 0, "fresh: no CreateToken")
        p.cmd("sleep 6", 0)
        st = p.one("status")
        tap.is_(fake.count("CreateToken:refresh_token"), 1, "refreshed with no caller waiting")
        tap.is_([s["from"] for s in st.get("sessions", [])], ["refresh"], "status: refresh")
        home = run.home()
        cli(home, ttl=15 * 60 + 60 + 3)
        fake.reset_counts()
        p = new(home)
        p.one("status")  # nobody used the token: it is not refreshed behind anyone's back
        p.cmd("sleep 6", 0)
        p.one("status")
        tap.is_(fake.count("CreateToken"), 0, "a token nobody used is not refreshed")

    with tap.test("a server's message that holds what was sent is not repeated"):
        home = run.home()
        tok, _ = cli(home, ttl=-60)
        body = json.dumps({"error": "server_error",
                           "error_description": "bad " + tok["refreshToken"]}).encode()
        canned = run.adopt(krtest.CannedServer(body, status=500))
        a = new(home, oidc=canned.url).one("creds %s %s" % (A1, DEV))
        tap.is_(a.get("error"), "aws", "the refresh failed: error aws, not login", a)
        tap.ok("server_error" in a.get("message", "") and "HTTP 500" in a.get("message", ""),
               "the line names the error and the status", a.get("message"))
        tap.ok(tok["refreshToken"] not in json.dumps(a) and "bad" not in a.get("message", ""),
               "the message holding the refresh token is left out", a)
        tap.is_(canned.hits, 3, "tried 3 times")

    with tap.test("an expired token with a refresh token: refreshed, then used"):
        home = run.home()
        cli(home, ttl=-60)
        fake.reset_counts()
        p = new(home)
        got = p.cmd("creds %s %s" % (A1, DEV))
        tap.ok(all_ok(got), "credentials", got)
        tap.is_(fake.count("CreateToken:refresh_token"), 1, "one refresh")

    with tap.test("expired and the refresh refused: error login naming keyrole login"):
        home = run.home()
        tok, _ = cli(home, ttl=-60)
        fake.expire_refresh(tok["refreshToken"])
        fake.reset_counts()
        p = new(home)
        a = p.one("creds %s %s" % (A1, DEV))
        tap.is_((a.get("ok"), a.get("error")), (False, "login"), "error login", a)
        tap.ok("keyrole login corp" in a.get("message", ""), "the line names keyrole login corp",
               a.get("message"))
        tap.is_(fake.count("GetRoleCredentials"), 0, "no GetRoleCredentials with an expired token")

    with tap.test("an expired registration: no refresh tried, login needed"):
        home = run.home()
        tok, _ = cli(home, ttl=-60)
        fake.expire_registration(tok["clientId"])
        t2 = dict(tok, registrationExpiresAt="2001-01-01T00:00:00Z")
        write_cli_token_cache(home, t2, session_name="corp")
        fake.reset_counts()
        a = new(home).one("creds %s %s" % (A1, DEV))
        tap.is_((a.get("error"), fake.count()), ("login", 0), "login, and no request at all", a)

    with tap.test("the CLI's file is read again before a refresh"):
        home = run.home()
        t1, _ = cli(home, ttl=900, refresh=False)  # usable, in the window, not refreshable
        fake.reset_counts()
        p = new(home)
        tap.ok(all_ok(p.cmd("creds %s %s" % (A1, DEV))), "first: the CLI's token")
        cli(home)  # `aws sso login` again: a fresh token in the file
        fake.revoke(t1)
        tap.ok(all_ok(p.cmd("creds %s %s" % (A1, DEV))), "second: the new one, read again")
        tap.is_(fake.count("CreateToken"), 0, "no CreateToken")

    with tap.test("the CLI's file is read again after invalid_grant (a rotated refresh token)"):
        home = run.home()
        t1, _ = cli(home, ttl=600)
        fake.reset_counts()
        fake.hold("CreateToken")
        p = new(home)
        p.p.stdin.write("creds %s %s\n" % (A1, DEV))
        p.p.stdin.flush()
        fake.wait_for(1, "CreateToken", timeout=10)
        # Meanwhile the CLI refreshed: its file has a new token, t1's refresh token is dead.
        fake.expire_refresh(t1["refreshToken"])
        t2, _ = cli(home, ttl=800)
        fake.revoke(t1)
        fake.release()
        a = json.loads(p.p.stdout.readline() or "{}")
        tap.is_(a.get("ok"), True, "credentials with the CLI's new token", a)
        tap.is_(fake.count("CreateToken"), 1, "one refresh, refused; none again")

    with tap.test("a file that is not the CLI's (too big, not JSON, another start URL) is ignored"):
        for text in ("{" + " " * (70 * 1024) + "}", "not json", json.dumps({
                "startUrl": "https://other.example/start", "region": "us-east-1",
                "accessToken": "x", "expiresAt": "2099-01-01T00:00:00Z"})):
            home = run.home()
            t, path = cli(home)
            with open(path, "w") as f:
                f.write(text)
            fake.reset_counts()
            a = new(home).one("creds %s %s" % (A1, DEV))
            tap.is_((a.get("error"), fake.count("GetRoleCredentials")), ("login", 0),
                    "login needed, no portal call (%s...)" % text[:12].strip(), a)

    with tap.test("the older botocore's \"...UTC\" times are read"):
        home = run.home()
        t = fake.issue_token("alice")
        write_cli_token_cache(home, t, session_name="corp", time_suffix="UTC")
        tap.ok(all_ok(new(home).cmd("creds %s %s" % (A1, DEV))), "credentials")

    # ---- legacy profiles (no sso_session) ----
    with tap.test("legacy: never refreshed; expired means login with no request at all"):
        home = run.home()
        t = fake.issue_token("alice", ttl=600)
        write_cli_token_cache(home, t, start_url=fake.start_url)
        fake.reset_counts()
        p = new(home, session=None)
        tap.ok(all_ok(p.cmd("creds %s %s" % (A1, DEV))), "a token in the window is used as is")
        tap.is_(fake.count("CreateToken"), 0, "no refresh for a legacy profile")
        home = run.home()
        t = fake.issue_token("alice", ttl=-10)
        write_cli_token_cache(home, t, start_url=fake.start_url)
        fake.reset_counts()
        a = new(home, session=None).one("creds %s %s" % (A1, DEV))
        tap.is_((a.get("error"), fake.count()), ("login", 0), "login, no request", a)
        tap.ok("--profile" in a.get("fix", ""), "the fix logs in through the profile", a)

    # ---- the portal's answers ----
    with tap.test("a revoked token: login, and not sent again"):
        home = run.home()
        t, _ = cli(home)
        fake.revoke(t)
        fake.reset_counts()
        p = new(home)
        a = p.one("creds %s %s" % (A1, DEV))
        tap.is_(a.get("error"), "login", "error login after the 401", a)
        a = p.one("creds %s %s" % (A1, DEV))
        tap.is_((a.get("error"), fake.count("GetRoleCredentials")), ("login", 1),
                "the refused token is not read from the CLI's file again", a)

    with tap.test("403 and 429: an aws error with its code and fix; throttling retried"):
        home = run.home()
        cli(home)
        p = new(home)
        a = p.one("creds %s NoSuchRole" % A1)
        tap.is_((a.get("error"), a.get("aws_code")), ("aws", "ForbiddenException"), "403", a)
        tap.ok("sso_role_name" in a.get("fix", ""), "the fix names sso_role_name", a)
        fake.reset_counts()
        fake.fail_next(2, "429", api="GetRoleCredentials")
        tap.ok(all_ok(p.cmd("creds %s %s" % (A1, DEV))), "after two 429s: credentials")
        tap.is_(fake.count("GetRoleCredentials"), 3, "three attempts")

    # ---- sso profiles ----
    with tap.test("accounts: every page of accounts and of roles"):
        home = run.home()
        cli(home)
        fake.reset_counts()
        a = new(home).one("accounts")
        got = {x["account_id"]: (x.get("account_name"), x["roles"]) for x in a.get("accounts", [])}
        tap.is_(got, {A1: ("acct-111", ["Admin", DEV]), A2: ("acct-222", ["ReadOnly"]),
                      A3: ("acct-333", ["Audit"])}, "three accounts, their roles", a)
        tap.is_(fake.count("ListAccounts"), 2, "two pages of accounts (page size 2)")

    # ---- logins ----
    with tap.test("login: one device authorization for 4 callers, approve, the token is used"):
        home = run.home()
        fake.reset_counts()
        p = new(home, cli=False)
        got = p.cmd("login 4", 4)
        tap.ok(all_ok(got), "4 answers", got)
        tap.is_(sorted(g.get("joined") for g in got), [False, True, True, True],
                "one started it, three joined")
        tap.is_(len({g.get("login_id") for g in got}), 1, "one login_id")
        tap.ok(all(g.get("user_code") and g.get("verification_uri_complete", "").endswith(
            g["user_code"]) for g in got), "the user code and the complete URL")
        tap.ok(all(0 < g.get("expires_in", 0) <= 600 for g in got), "expires_in")
        tap.is_((fake.count("RegisterClient"), fake.count("StartDeviceAuthorization")), (1, 1),
                "one RegisterClient, one StartDeviceAuthorization")
        fake.approve(got[0]["user_code"])
        w = p.cmd("wait 2", 2)
        tap.ok(all_ok(w) and all(x.get("session") == "corp" for x in w), "both waits: corp", w)
        tap.ok(all(x.get("expiration", 0) > time.time() + 3000 for x in w), "and its expiry")
        tap.ok(all_ok(p.cmd("creds %s %s" % (A1, DEV))), "role credentials with it")
        st = p.one("status")
        tap.is_([s["from"] for s in st.get("sessions", [])], ["login"], "status: from login")
        a = p.one("login")
        tap.is_((a.get("logged_in"), fake.count("StartDeviceAuthorization")), (True, 1),
                "login again: logged in already, no new device flow", a)
        a = p.one("login force")
        tap.ok(a.get("user_code") and not a.get("joined"), "--force: a new device flow", a)
        tap.is_(fake.count("RegisterClient"), 1, "the registration is used again")

    with tap.test("login: slow_down adds 5 s to the interval"):
        fake.reset_counts()
        p = new(cli=False)
        g = p.one("login")
        fake.fail_next(1, "slow_down", api="CreateToken")
        p.cmd("sleep 8", 0)
        p.one("status")  # answered once the 8 s of the loop have run
        d = [x for x in fake.devices() if x["user_code"] == g.get("user_code")]
        polls = d[0]["polls"] if d else []
        gaps = [b - a for a, b in zip(polls, polls[1:])]
        tap.ok(len(polls) >= 2 and gaps and gaps[0] >= 5.5, "after slow_down, 6 s to the next "
               "poll", polls)
        tap.is_(d and d[0]["too_fast"], 0, "never faster than the interval")
        fake.deny(g.get("user_code"))
        a = p.one("wait", timeout=30)
        tap.is_(a.get("error"), "login", "denied: error login", a)
        tap.ok("denied" in a.get("message", ""), "the line says denied", a)

    with tap.test("login: a code that expires unapproved: timeout"):
        fake.device_ttl = 3
        try:
            p = new(cli=False)
            g = p.one("login")
            tap.ok(g.get("expires_in", 99) <= 3, "expires_in 3", g)
            a = p.one("wait", timeout=30)
            tap.is_(a.get("error"), "timeout", "timeout past the code's expiry", a)
        finally:
            fake.device_ttl = 600

    # ---- the keyring, logout ----
    with tap.test("keyctl: after a restart the token comes from keyrole's item, no CLI file"):
        session = "kr-test-" + uuid.uuid4().hex[:10]
        home = run.home()
        fake.reset_counts()
        p = new(home, session=session, cache="keyctl", cli=False)
        g = p.one("login")
        if g.get("error"):
            raise krtest.Skip("no kernel keyring here: %s" % g)
        fake.approve(g.get("user_code"))
        tap.ok(p.one("wait").get("ok"), "logged in")
        tap.is_(p.one("restart").get("ok"), True, "restarted")
        fake.reset_counts()
        tap.ok(all_ok(p.cmd("creds %s %s" % (A1, DEV))), "credentials after the restart")
        st = p.one("status")
        tap.is_([s["from"] for s in st.get("sessions", [])], ["keyring"], "from the keyring")
        tap.is_(fake.count("CreateToken"), 0, "no CreateToken")
        a = p.one("logout")
        tap.is_((a.get("ok"), a.get("removed")), (True, 1), "logout removed the token", a)
        tap.is_(fake.count("Logout"), 1, "the portal's Logout was called")
        p.one("restart")
        fake.reset_counts()
        a = p.one("creds %s %s" % (A1, DEV))
        tap.is_((a.get("error"), fake.count()), ("login", 0),
                "after logout and a restart: login needed, the item is gone", a)

    with tap.test("keyctl: a token read from the CLI's file is never copied to the keyring"):
        session = "kr-test-" + uuid.uuid4().hex[:10]
        home = run.home()
        t = fake.issue_token("alice")
        path = write_cli_token_cache(home, t, session_name=session)
        p = new(home, session=session, cache="keyctl")
        tap.ok(all_ok(p.cmd("creds %s %s" % (A1, DEV))), "credentials from the CLI's token")
        p.one("restart")
        os.unlink(path)
        fake.reset_counts()
        a = p.one("creds %s %s" % (A1, DEV))
        tap.is_((a.get("error"), fake.count()), ("login", 0),
                "after a restart without the file: nothing of it in the keyring", a)

    with tap.test("logout: the CLI's file untouched, a Logout that fails is ignored"):
        home = run.home()
        t, path = cli(home)
        before = file_state(path)
        p = new(home)
        tap.ok(all_ok(p.cmd("creds %s %s" % (A1, DEV))), "credentials")
        fake.fail_next(3, "500", api="Logout")
        a = p.one("logout")
        tap.is_((a.get("ok"), a.get("removed")), (True, 1), "logged out anyway", a)
        tap.is_(file_state(path), before, "the CLI's file is untouched")

    # ---- the end ----
    with tap.test("every probe ends cleanly (no leak, no sanitizer report)"):
        for p in probes:
            p.stop()
        bad = [(p.rc, p.stderr()[-2000:]) for p in probes
               if p.rc != 0 or "Sanitizer" in p.stderr() or "runtime error" in p.stderr()]
        tap.is_(bad, [], "%d probes exited 0 with nothing to report" % len(probes))

    with tap.test("nothing the probe printed holds a token, a refresh token or a secret"):
        text = "".join("".join(p.out) + p.stderr() for p in probes)
        leaked = [s for s in fake.issued_secrets() if s in text]
        tap.is_(leaked, [], "no issued secret in %d bytes of output" % len(text))


if __name__ == "__main__":
    krtest.main(main)
