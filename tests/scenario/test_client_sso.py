#!/usr/bin/env python3
"""The keyrole client's IAM Identity Center side against a fake keyroled
that plays doc/sso-design.md's replies: login (the URL and code shown, the
browser run, login_wait, the success line), joined logins, logout,
`sso profiles`, the inline login of get on a terminal and the exit status 8
without one, and the SSO parts of status and check. The real daemon side is
not needed.
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(HERE, "..", "..")),
                                "tests", "lib"))
import krtest  # noqa: E402
from test_client_cli import (CREDS, HOSTILE, FakeDaemon, client, client_pty,  # noqa: E402
                             err_reply, no_controls, ok_reply, one_line)

SESSION = "corp"
START_URL = "https://corp.awsapps.com/start"
URI = "https://device.sso.eu-west-1.amazonaws.com/"
CODE = "WDKL-QMXT"
FULL = URI + "?user_code=" + CODE
EXPIRES = "2030-01-01T00:00:00Z"
DONE_LINE = "logged in to %s (%s) until %s\n" % (SESSION, START_URL, EXPIRES)

# A $BROWSER that records what it got: its arguments, its descriptors
# (without the one it lists them with), and where stdin and stdout lead.
RECORDER = r"""#!%s
import json, os, sys
fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))
info = {"argv": sys.argv[1:], "fds": fds[:-1],
        "stdin": os.readlink("/proc/self/fd/0"), "stdout": os.readlink("/proc/self/fd/1"),
        "own_session": os.getsid(0) == os.getpid()}
tmp = sys.argv[0] + ".tmp"
with open(tmp, "w") as f:
    json.dump(info, f)
os.rename(tmp, os.environ["KR_TEST_RECORD"])
"""


def started(**extra):
    r = {"session": SESSION, "start_url": START_URL, "login_id": "l-1",
         "verification_uri": URI, "verification_uri_complete": FULL, "user_code": CODE,
         "expires_in": 600, "joined": False}
    r.update(extra)
    return ok_reply(**r)


def sso_handler(login=None, wait=None, get=None, other=None, wait_delay=0.2):
    """A fake keyroled for the SSO ops: each op's reply is a value or a
    function of the request; unknown ops get unknown_op."""
    state = {"logged_in": False}

    def h(req):
        op = req.get("op")
        if op == "login":
            return login(req) if callable(login) else (login or started())
        if op == "login_wait":
            time.sleep(wait_delay)
            r = wait(req) if callable(wait) else (wait or ok_reply(session=SESSION,
                                                                  expiration=EXPIRES))
            state["logged_in"] = r.get("ok", False)
            return r
        if op == "get":
            if get:
                return get(req, state)
            if state["logged_in"]:
                return ok_reply(**CREDS)
            return err_reply("login", "IAM Identity Center session corp: the token expired",
                             profile=req.get("profile"), sso_session=SESSION,
                             sso_start_url=START_URL)
        if other and op in other:
            return other[op](req) if callable(other[op]) else other[op]
        return err_reply("unknown_op", "unknown op")
    return h


def main(tap, run):
    krtest.require_file(krtest.keyrole(), "keyrole")
    sock = os.path.join(run.mkdir("sock"), "agent.sock")
    home = run.home()
    fake = run.adopt(FakeDaemon(sock))
    record = run.path("browser.json")
    browser = run.path("browser-rec")
    with open(browser, "w") as f:
        f.write(RECORDER % sys.executable)
    os.chmod(browser, 0o700)
    base = {"HOME": home, "KEYROLE_SOCKET": sock, "KEYROLE_NO_AUTOSTART": "1",
            "KR_TEST_RECORD": record}

    def use(handler):
        fake.handler = handler
        fake.take()
        if os.path.exists(record):
            os.unlink(record)

    def browser_got(timeout=5.0):
        if not krtest.wait_until(lambda: os.path.exists(record), timeout):
            return None
        with open(record) as f:
            return json.load(f)

    def ops(reqs):
        return [r.get("op") for r in reqs]

    # ---- keyrole login ----
    with tap.test("login: URL and code on stderr, the browser opened, login_wait, one line"):
        use(sso_handler())
        rc, out, err = client(["login", SESSION], dict(base, BROWSER=browser))
        reqs = fake.take()
        tap.is_(rc, 0, "exit 0", err)
        tap.is_(out, DONE_LINE, "stdout: logged in to SESSION (START_URL) until TIME")
        tap.is_(ops(reqs), ["login", "login_wait"], "login, then login_wait")
        tap.is_((reqs[0].get("session"), "profile" in reqs[0], reqs[0].get("force")),
                (SESSION, False, None), "login names the session only, no force")
        tap.ok(isinstance(reqs[0].get("env"), dict) and reqs[0]["env"].get("HOME") == home,
               "login carries the caller's environment")
        tap.is_(reqs[1].get("login_id"), "l-1", "login_wait names the login")
        tap.ok(FULL in err and CODE in err and URI in err,
               "stderr shows the URL and the code (no terminal here)", err)
        tap.ok(no_controls(err), "stderr has no control character", repr(err))
        got = browser_got()
        tap.ok(got is not None, "the browser was run")
        if got:
            tap.is_(got["argv"], [FULL], "the browser got verification_uri_complete, last")
            tap.is_(got["fds"], [0, 1, 2], "the browser has descriptors 0-2 only")
            tap.is_((got["stdin"], got["stdout"]), ("/dev/null", "/dev/null"),
                    "its stdin and stdout are /dev/null")
            tap.ok(got["own_session"], "it runs in a session of its own")

    with tap.test("login: no descriptor of keyrole's caller reaches the browser"):
        use(sso_handler())
        fd = os.open(run.path("leak"), os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            p = subprocess.run([krtest.keyrole(), "login", SESSION],
                               env=krtest.clean_env(dict(base, BROWSER=browser)),
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=20,
                               pass_fds=(fd,), start_new_session=True)
        finally:
            os.close(fd)
        got = browser_got()
        tap.is_(p.returncode, 0, "exit 0", p.stderr)
        tap.is_(got and got["fds"], [0, 1, 2], "the inherited fd stays behind")

    with tap.test("login: $BROWSER is split without a shell, %s takes the URL"):
        use(sso_handler())
        rc, out, err = client(["login", SESSION],
                              dict(base, BROWSER="%s --new-tab 'two words' $HOME x%%sy" % browser))
        got = browser_got()
        tap.is_(rc, 0, "exit 0", err)
        tap.is_(got and got["argv"], ["--new-tab", "two words", "$HOME", "x%sy" % FULL],
                "words as written, %s replaced, no URL appended")

    with tap.test("login: xdg-open on a display when BROWSER is unset"):
        bindir = run.mkdir("bin")
        os.symlink(browser, os.path.join(bindir, "xdg-open"))
        path = bindir + ":" + krtest.clean_env()["PATH"]
        use(sso_handler())
        rc, out, err = client(["login", SESSION], dict(base, DISPLAY=":0", PATH=path))
        got = browser_got()
        tap.is_((rc, got and got["argv"]), (0, [FULL]), "xdg-open URL", err)
        use(sso_handler())
        rc, out, err = client(["login", SESSION], dict(base, WAYLAND_DISPLAY="wayland-0",
                                                       PATH=path))
        tap.ok(browser_got() is not None, "WAYLAND_DISPLAY counts as a display")
        use(sso_handler())
        rc, out, err = client(["login", SESSION], dict(base, PATH=path))
        tap.is_(rc, 0, "no display: still logs in", err)
        tap.ok(browser_got(0.5) is None and FULL in err, "no display: only the URL is shown",
               err)

    with tap.test("login --no-browser shows the URL and runs nothing"):
        use(sso_handler())
        rc, out, err = client(["login", SESSION, "--no-browser"], dict(base, BROWSER=browser))
        tap.is_((rc, out), (0, DONE_LINE), "logged in", err)
        tap.ok(browser_got(0.5) is None, "no browser was run")
        tap.ok(FULL in err and CODE in err, "URL and code shown", err)

    with tap.test("login: a URL that is not http(s) is never handed to a program"):
        use(sso_handler(login=started(verification_uri_complete="file:///etc/passwd",
                                      verification_uri="-x")))
        rc, out, err = client(["login", SESSION], dict(base, BROWSER=browser))
        tap.is_(rc, 0, "exit 0", err)
        tap.ok(browser_got(0.5) is None, "no browser was run")
        tap.ok("not an http(s) URL" in err, "says why", err)

    with tap.test("login: a browser that cannot run is reported, the login goes on"):
        use(sso_handler())
        rc, out, err = client(["login", SESSION], dict(base, BROWSER="/nonexistent/browser"))
        tap.is_((rc, out), (0, DONE_LINE), "logged in", err)
        tap.ok("could not start /nonexistent/browser" in err, "names the browser", err)

    with tap.test("login: joining a login in progress opens no second page"):
        use(sso_handler(login=started(joined=True)))
        rc, out, err = client(["login", SESSION], dict(base, BROWSER=browser))
        tap.is_((rc, out), (0, DONE_LINE), "logged in once the approval came", err)
        tap.ok(browser_got(0.5) is None, "no browser for a joined login")
        tap.ok("already in progress" in err and CODE in err and FULL in err,
               "says so, with the URL and the same code", err)
        tap.is_(ops(fake.take()), ["login", "login_wait"], "waits like the first")

    with tap.test("login: N clients at once join one login"):
        joins = []

        def login(req):
            joins.append(1)
            return started(joined=len(joins) > 1)
        use(sso_handler(login=login, wait_delay=0.5))
        procs = [subprocess.Popen([krtest.keyrole(), "login", SESSION],
                                  env=krtest.clean_env(dict(base, BROWSER=browser)),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, start_new_session=True)
                 for _ in range(4)]
        outs = [p.communicate(timeout=20) for p in procs]
        tap.is_([p.returncode for p in procs], [0] * 4, "all exit 0")
        tap.is_([o[0].decode() for o in outs], [DONE_LINE] * 4, "all print the line")
        tap.is_(sum(b"already in progress" in o[1] for o in outs), 3, "three joined")
        tap.ok(browser_got() is not None, "the first opened the page")

    with tap.test("login with a valid token already there: no device flow"):
        use(sso_handler(login=ok_reply(session=SESSION, start_url=START_URL, logged_in=True,
                                       expiration=EXPIRES)))
        rc, out, err = client(["login", SESSION], dict(base, BROWSER=browser))
        tap.is_(rc, 0, "exit 0", err)
        tap.ok(out.startswith(DONE_LINE[:-1]) and "--force" in out, "says so", out)
        tap.is_(ops(fake.take()), ["login"], "no login_wait")
        tap.ok(browser_got(0.3) is None and err == "", "nothing opened or shown", err)

    with tap.test("login: --force, --profile, and the default profile are sent"):
        use(sso_handler())
        client(["login", SESSION, "--force"], base)
        client(["login", "--profile", "dev"], base)
        client(["login", "--profile=dev"], base)
        client(["login"], dict(base, AWS_PROFILE="work"))
        client(["login"], dict(base, AWS_PROFILE="work", AWS_DEFAULT_PROFILE="first"))
        client(["login"], dict(base, AWS_PROFILE=""))
        got = [(r.get("session"), r.get("profile"), r.get("force"))
               for r in fake.take() if r.get("op") == "login"]
        tap.is_(got, [(SESSION, None, True), (None, "dev", None), (None, "dev", None),
                      (None, "work", None), (None, "first", None), (None, "default", None)],
                "SESSION; --profile; AWS_DEFAULT_PROFILE, else AWS_PROFILE, else default")

    with tap.test("login: usage errors send nothing"):
        use(sso_handler())
        for args in (["login", SESSION, "--profile", "dev"], ["login", "a", "b"],
                     ["login", "--profile"], ["login", "--mfa-code", "1"],
                     ["logout", "--force"], ["sso"], ["sso", "roles"],
                     ["sso", "profiles", SESSION, "--no-browser"]):
            rc, out, err = client(args, base)
            tap.ok(rc == 2 and one_line(err), "%s: exit 2, one line" % " ".join(args),
                   (rc, err))
        tap.is_(fake.take(), [], "no request")

    with tap.test("login refused or expired: exit 8, one line"):
        use(sso_handler(wait=err_reply("login", "the login of corp was denied")))
        rc, out, err = client(["login", SESSION], base)
        tap.is_((rc, out), (8, ""), "exit 8, nothing on stdout", err)
        tap.ok(err.endswith("keyrole: the login of corp was denied\n"),
               "the daemon's message, last", err)
        use(sso_handler(login=started(expires_in=1), wait=err_reply("timeout", "timed out"),
                        wait_delay=0.1))
        rc, out, err = client(["login", SESSION], base)
        tap.is_(rc, 8, "a code that expired: exit 8", err)
        tap.ok("not approved before its code expired" in err.splitlines()[-1], "says so", err)
        tap.is_(ops(fake.take()), ["login", "login_wait"], "no second wait past the expiry")

    with tap.test("login_wait ended early by keyroled's backstop is asked again"):
        waits = []

        def wait(req):
            waits.append(1)
            if len(waits) == 1:
                return err_reply("timeout", "keyroled gave up waiting")
            return ok_reply(session=SESSION, expiration=EXPIRES)
        use(sso_handler(wait=wait))
        rc, out, err = client(["login", SESSION], base)
        tap.is_((rc, out), (0, DONE_LINE), "logged in", err)
        tap.is_(ops(fake.take()), ["login", "login_wait", "login_wait"], "waited twice")

    with tap.test("login: daemon strings cannot forge lines or drive the terminal"):
        use(sso_handler(login=started(user_code="AB\nkeyrole: forged" + HOSTILE,
                                      start_url="https://x\x1b[2J/start",
                                      session="corp\nFORGED")))
        rc, out, err = client(["login", SESSION, "--no-browser"], base)
        tap.is_(rc, 0, "exit 0", err)
        tap.ok(no_controls(err) and no_controls(out), "no control character", repr(err))
        tap.ok(not any(line.startswith(("keyrole: forged", "FORGED"))
                       for line in (out + err).splitlines()), "no forged line", err)

    with tap.test("login failing at the daemon: its line and exit status"):
        use(sso_handler(login=err_reply("config", "The specified sso-session does not exist: "
                                                  "\"nope\"")))
        rc, out, err = client(["login", "nope"], base)
        tap.is_(rc, 4, "config error: exit 4")
        tap.is_(err, "keyrole: The specified sso-session does not exist: \"nope\"\n",
                "one line")
        use(sso_handler(login=err_reply("login", "no")))
        rc, out, err = client(["login", "--profile", "dev"], base)
        tap.is_((rc, err), (8, "keyrole: dev: no\n"), "error login: exit 8, the profile named")

    # ---- logout ----
    with tap.test("logout sends the session or the profile and says what it removed"):
        use(sso_handler(other={"logout": ok_reply(removed=3)}))
        rc, out, err = client(["logout", SESSION], base)
        rc2, out2, err2 = client(["logout", "--profile", "dev"], base)
        reqs = fake.take()
        tap.is_((rc, rc2), (0, 0), "exit 0", err + err2)
        tap.is_([(r.get("op"), r.get("session"), r.get("profile")) for r in reqs],
                [("logout", SESSION, None), ("logout", None, "dev")], "requests")
        tap.ok(all(isinstance(r.get("env"), dict) for r in reqs), "with the environment")
        tap.is_(out, "logged out of corp (3 items removed)\n", "logout SESSION")
        tap.is_(out2, "logged out of the session of profile dev (3 items removed)\n",
                "logout --profile")

    # ---- sso profiles ----
    profiles_reply = ok_reply(
        session=SESSION, start_url=START_URL, region="eu-west-1",
        accounts=[{"account_id": "111111111111", "account_name": "Acme Prod",
                   "email": "aws-prod@acme.example", "roles": ["Developer", "ReadOnly"]},
                  {"account_id": "222222222222", "account_name": "acme/prod",
                   "email": "other@acme.example", "roles": ["Developer"]},
                  {"account_id": "333333333333", "account_name": "-.\u00e9\n[x]",
                   "roles": ["Admin Access\n[profile evil]"]},
                  {"account_id": "444444444444", "account_name": "Empty", "roles": []}])
    exe = os.path.realpath(krtest.keyrole())

    def expected_pair(name, account, role, session_lines):
        return ("[profile %s-chain]\n%ssso_account_id = %s\nsso_role_name = %s\n"
                "region = eu-west-1\n\n[profile %s]\ncredential_process = %s get %s-chain\n"
                "region = eu-west-1\n\n" % (name, session_lines, account, role, name, exe,
                                            name))

    with tap.test("sso profiles prints the pairs of sections"):
        use(sso_handler(other={"sso_profiles": profiles_reply}))
        rc, out, err = client(["sso", "profiles", SESSION], base)
        reqs = fake.take()
        tap.is_(rc, 0, "exit 0", err)
        tap.is_([(r.get("op"), r.get("session"), r.get("profile")) for r in reqs],
                [("sso_profiles", SESSION, None)], "one sso_profiles request for the session")
        sl = "sso_session = corp\n"
        want = ("# IAM Identity Center session corp (%s): 4 accounts, 4 roles.\n"
                "# For ~/.aws/config: tools use [profile NAME] (AWS_PROFILE=NAME), keyrole "
                "resolves NAME-chain.\n\n"
                "# Acme Prod (111111111111, aws-prod@acme.example)\n" % START_URL
                + expected_pair("Acme-Prod-Developer", "111111111111", "Developer", sl)
                + expected_pair("Acme-Prod-ReadOnly", "111111111111", "ReadOnly", sl)
                + "# acme/prod (222222222222, other@acme.example)\n"
                + expected_pair("acme-prod-Developer", "222222222222", "Developer", sl)
                + "# -.\u00e9 [x] (333333333333)\n"
                + "[profile x-Admin-Access-profile-evil-chain]\n" + sl
                + "sso_account_id = 333333333333\nsso_role_name = Admin Access [profile evil]\n"
                + "region = eu-west-1\n\n[profile x-Admin-Access-profile-evil]\n"
                + "credential_process = %s get x-Admin-Access-profile-evil-chain\n" % exe
                + "region = eu-west-1\n\n"
                + "# Empty (444444444444): no roles\n\n")
        tap.is_(out, want, "sections as documented")
        tap.ok(no_controls(out), "no control character", repr(out))

    with tap.test("sso profiles: the same account name twice gets the account id"):
        dup = json.loads(json.dumps(profiles_reply))
        dup["accounts"][1]["account_name"] = "Acme Prod"
        use(sso_handler(other={"sso_profiles": dup}))
        rc, out, err = client(["sso", "profiles", "--profile", "dev"], base)
        tap.is_(rc, 0, "exit 0", err)
        tap.ok("[profile Acme-Prod-Developer-222222222222]\n" in out
               and "[profile Acme-Prod-Developer]\n" in out,
               "the second keeps its own name", out)
        tap.is_(fake.take()[0].get("profile"), "dev", "--profile is sent")

    with tap.test("sso profiles of a legacy session: sso_start_url and sso_region"):
        legacy = json.loads(json.dumps(profiles_reply))
        legacy["session"] = START_URL
        legacy["accounts"] = legacy["accounts"][:1]
        use(sso_handler(other={"sso_profiles": legacy}))
        rc, out, err = client(["sso", "profiles"], dict(base, AWS_PROFILE="old"))
        tap.is_(rc, 0, "exit 0", err)
        tap.ok("sso_start_url = %s\nsso_region = eu-west-1\nsso_account_id" % START_URL in out
               and "sso_session" not in out, "the legacy keys, no sso_session", out)
        tap.is_(fake.take()[0].get("profile"), "old", "the default profile")

    with tap.test("sso profiles: a reply without accounts is a protocol error"):
        use(sso_handler(other={"sso_profiles": ok_reply(session=SESSION)}))
        rc, out, err = client(["sso", "profiles", SESSION], base)
        tap.ok(rc == 1 and out == "" and one_line(err), "exit 1, one line", (rc, err))

    # ---- get: error login ----
    def login_line(profile, session):
        return ('keyrole: %s: the IAM Identity Center session "%s" has expired: run '
                'keyrole login %s\n' % (profile, session, session))

    with tap.test("get without a terminal: one line naming keyrole login, exit 8"):
        for args in (["get", "prod"], ["env", "prod"], ["exec", "prod", "--", "true"]):
            use(sso_handler())
            rc, out, err = client(args, dict(base, BROWSER=browser))
            tap.is_((rc, out), (8, ""), "%s: exit 8, nothing on stdout" % args[0], err)
            tap.is_(err, login_line("prod", SESSION), "%s: the one line" % args[0])
            tap.is_(ops(fake.take()), ["get"], "%s: no login attempted" % args[0])
        tap.ok(browser_got(0.3) is None, "no browser")

    with tap.test("get without a terminal, legacy session: keyrole login --profile"):
        use(sso_handler(get=lambda req, st: err_reply("login", "expired",
                                                      sso_session=START_URL)))
        rc, out, err = client(["get", "prod"], base)
        tap.is_(rc, 8, "exit 8")
        tap.is_(err, 'keyrole: prod: the IAM Identity Center session "%s" has expired: run '
                'keyrole login --profile prod\n' % START_URL, "the line names the profile")

    with tap.test("get on a terminal: the login runs inline, then the credentials"):
        use(sso_handler())
        rc, seen = client_pty(["get", "prod"], dict(base, BROWSER=browser), [], timeout=15)
        reqs = fake.take()
        tap.is_(rc, 0, "exit 0", seen)
        tap.is_(ops(reqs), ["get", "login", "login_wait", "get"],
                "get, login, login_wait, the same get again")
        tap.is_((reqs[1].get("session"), "profile" in reqs[1]), (SESSION, False),
                "the login names the session of the error")
        tap.is_(reqs[3].get("profile"), "prod", "the retry is the same get")
        tap.ok("IAM Identity Center session corp needs a login" in seen, "says why", seen)
        tap.ok(FULL in seen and CODE in seen, "the URL and the code on the terminal", seen)
        tap.ok(DONE_LINE.strip() in seen, "the success line on the terminal", seen)
        tap.ok(CREDS["AccessKeyId"] in seen, "then the credentials", seen)
        got = browser_got()
        tap.is_(got and got["argv"], [FULL], "the browser got the URL")

    with tap.test("get on a terminal: a refused login ends with exit 8, no retry"):
        use(sso_handler(wait=err_reply("login", "the login of corp was denied")))
        rc, seen = client_pty(["get", "prod"], base, [], timeout=15)
        tap.is_(rc, 8, "exit 8", seen)
        tap.ok("keyrole: prod: the login of corp was denied" in seen, "the line", seen)
        tap.is_(ops(fake.take()), ["get", "login", "login_wait"], "no second get")

    with tap.test("get on a terminal: a second login error is not looped on"):
        use(sso_handler(get=lambda req, st: err_reply("login", "expired", sso_session=SESSION)))
        rc, seen = client_pty(["get", "prod"], base, [], timeout=15)
        tap.is_(rc, 8, "exit 8", seen)
        tap.is_(ops(fake.take()), ["get", "login", "login_wait", "get"], "one login only")
        tap.ok(login_line("prod", SESSION).strip() in seen, "then the line", seen)

    # ---- status and check ----
    status = {"version": "9.9.9", "pid": 1, "uptime": 5, "backend": "memory", "entries": [],
              "stored_keys": [], "counters": {"requests": 1},
              "sso_sessions": [{"session": SESSION, "start_url": START_URL,
                                "region": "eu-west-1", "expiration": "2099-01-01T00:00:00Z",
                                "refresh_token": True, "from": "keyring"},
                               {"session": "old", "start_url": "https://old.awsapps.com/start",
                                "region": "us-east-1", "expiration": "2000-01-01T00:00:00Z",
                                "refresh_token": False, "from": "aws-cli-cache",
                                "refreshing": True}]}

    with tap.test("status lists the IAM Identity Center sessions"):
        use(lambda r: ok_reply(**status))
        rc, out, err = client(["status"], base)
        tap.is_(rc, 0, "exit 0", err)
        lines = out.splitlines()
        i = lines.index("IAM Identity Center sessions:") if \
            "IAM Identity Center sessions:" in lines else -1
        tap.ok(i >= 0, "a section for them", out)
        rows = lines[i + 2:i + 4] if i >= 0 else []
        tap.ok(len(rows) == 2 and rows[0].split()[:3] == [SESSION, "eu-west-1", "in"]
               and rows[0].split()[-3:] == ["yes", "keyring", START_URL],
               "corp: region, time left, refresh token yes, from, start URL", out)
        tap.ok(len(rows) == 2 and rows[1].split()[:3] == ["old", "us-east-1", "expired"]
               and "no" in rows[1].split() and "(refreshing)" in rows[1],
               "old: expired, no refresh token, refreshing", out)
        tap.ok("token" not in out.lower().replace("refresh token", ""), "no token shown", out)
        empty = dict(status, sso_sessions=[])
        use(lambda r: ok_reply(**empty))
        rc, out, err = client(["status"], base)
        tap.ok("IAM Identity Center sessions: none\n" in out, "none when empty", out)
        old = dict(status)
        del old["sso_sessions"]
        use(lambda r: ok_reply(**old))
        rc, out, err = client(["status"], base)
        tap.ok("IAM Identity Center" not in out, "nothing from an older keyroled", out)

    with tap.test("status scrubs the SSO sessions' strings"):
        hostile = json.loads(json.dumps(status))
        hostile["sso_sessions"][0].update(session="corp\nFORGED LINE",
                                          start_url="https://x/" + HOSTILE,
                                          **{"from": "keyring\x1b[2J"})
        use(lambda r: ok_reply(**status))
        rc, plain, err = client(["status"], base)
        use(lambda r: ok_reply(**hostile))
        rc, out, err = client(["status"], base)
        tap.ok(no_controls(out) and out.count("\n") == plain.count("\n")
               and not any(line.startswith("FORGED") for line in out.splitlines()),
               "same lines, no control character", repr(out))

    with tap.test("check prints an SSO source as PROFILE (sso ACCOUNT/ROLE)"):
        use(lambda r: ok_reply(profiles=[{
            "name": "prod", "ok": True,
            "steps": [{"kind": "source", "type": "sso", "profile": "corp", "file": "/c",
                       "line": 3, "sso_session": SESSION, "start_url": START_URL,
                       "region": "eu-west-1", "account_id": "111111111111",
                       "role_name": "Developer"},
                      {"kind": "role", "role_arn": "arn:aws:iam::222222222222:role/prod"}],
            "problems": []}]))
        rc, out, err = client(["check", "prod"], base)
        tap.is_((rc, out), (0, "prod: ok\n  chain: corp (sso 111111111111/Developer) -> "
                               "arn:aws:iam::222222222222:role/prod\n"), "the chain line", err)

    # ---- help ----
    with tap.test("help: login, logout and sso have their own, exit 8 in the overview"):
        use(sso_handler())
        for cmd in ("login", "logout", "sso"):
            rc, out, err = client([cmd, "--help"], base)
            tap.ok(rc == 0 and out.startswith("usage: keyrole %s" % cmd), "%s --help" % cmd,
                   out)
        rc, out, err = client(["--help"], base)
        tap.ok("\n  8    an IAM Identity Center login is needed" in out, "exit status 8", out)
        tap.is_(fake.take(), [], "help sends nothing")


if __name__ == "__main__":
    krtest.main(main)
