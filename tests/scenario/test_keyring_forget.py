"""`keyrole forget PROFILE` through the real client and daemon, against moto
(auth on) behind the counting proxy, for the memory, keyctl and Secret
Service backends: the next `get PROFILE` calls STS for every hop of the
chain, also for an intermediate hop last used by another profile, also
after a restart (when only the keyring knows the hops) and after a
shutdown right after the forget, and a fetch in flight during the forget
is not kept."""

import os
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.environ.get("KR_SRC", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import krtest  # noqa: E402

CHAIN = "prod-admin"  # dev -> prod -> prod-admin: two hops


class Setup:
    def __init__(self, run, seed, proxy, cache, daemon_env=None):
        self.run = run
        self.proxy = proxy
        self.cache = cache
        self.home = run.home("forget-" + cache)
        cfg, creds = krtest.chain_config(seed, process_profiles=False)
        krtest.write_aws_config(self.home, cfg, creds)
        self.d = run.daemon(self.home, cache=cache, env=daemon_env)
        self.env = krtest.aws_env(self.home, self.d.socket, proxy.url,
                                  extra={"KEYROLE_NO_AUTOSTART": "1"})

    def client(self, *args):
        return krtest.run_client(list(args), env=self.env, timeout=60)

    def calls(self, *args):
        """Run the client; -> (CompletedProcess, STS calls it caused)."""
        self.proxy.reset_counts()
        p = self.client(*args)
        return p, self.proxy.count()

    def restart(self):
        """SIGKILL (no cleanup) and start again, once the asynchronous keyring
        writes have landed."""
        assert self.d.wait_keyring_idle(), "keyring calls still queued after 30 s"
        self.d.proc.send_signal(signal.SIGKILL)
        self.d.proc.wait(10)
        self.d.proc = None
        self.d.start()

    def clean(self):
        self.client("forget", "--all")


def scenarios(tap, s):
    label = s.cache
    persistent = s.cache != "memory"

    with tap.test("%s: forget drops an intermediate hop last fetched for another profile"
                  % label):
        s.clean()
        s.client("get", "prod")
        p, n = s.calls("get", CHAIN)
        tap.is_((p.returncode, n), (0, 1), "%s: the chain reuses prod's hop" % label, p.stderr)
        p = s.client("forget", CHAIN)
        tap.is_(p.returncode, 0, "%s: keyrole forget %s" % (label, CHAIN), p.stderr)
        p, n = s.calls("get", CHAIN)
        tap.is_((p.returncode, n), (0, 2), "%s: next get calls STS for both hops" % label,
                p.stderr)

    with tap.test("%s: forget after a restart drops every hop from the keyring" % label):
        s.clean()
        p, n = s.calls("get", CHAIN)
        tap.is_((p.returncode, n), (0, 2), "%s: cold chain" % label, p.stderr)
        s.restart()
        if persistent:
            p, n = s.calls("get", "prod")
            tap.is_((p.returncode, n), (0, 0), "%s: hop 0 comes back from the keyring" % label,
                    p.stderr)
            s.restart()
        p = s.client("forget", CHAIN)
        tap.is_(p.returncode, 0, "%s: forget after the restart" % label, p.stderr)
        s.restart()
        p, n = s.calls("get", CHAIN)
        tap.is_((p.returncode, n), (0, 2),
                "%s: after forget and restart, STS for both hops" % label, p.stderr)
        s.restart()
        p, n = s.calls("get", CHAIN)
        tap.is_((p.returncode, n), (0, 0 if persistent else 2),
                "%s: what was fetched after the forget is cached as usual" % label, p.stderr)

    with tap.test("%s: a forget right before a shutdown is not lost" % label):
        s.clean()
        s.client("get", "prod")
        s.client("get", CHAIN)
        p = s.client("forget", CHAIN)
        tap.is_(p.returncode, 0, "%s: forget, then SIGTERM at once" % label, p.stderr)
        s.d.stop()
        s.d.start()
        p, n = s.calls("get", CHAIN)
        tap.is_((p.returncode, n), (0, 2), "%s: after the restart, STS for both hops" % label,
                p.stderr)

    with tap.test("%s: a fetch in flight during forget is not kept" % label):
        s.clean()
        s.proxy.reset_counts()
        s.proxy.hold()
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("p", s.client("get", CHAIN)))
        t.start()
        try:
            tap.ok(s.proxy.wait_for(1, timeout=20), "%s: hop 0's call is in flight" % label)
            p = s.client("forget", CHAIN)
            tap.is_(p.returncode, 0, "%s: forget while it is in flight" % label, p.stderr)
        finally:
            s.proxy.release()
            t.join(60)
        tap.is_(out.get("p") and out["p"].returncode, 0,
                "%s: the request that was waiting is answered" % label,
                out.get("p") and out["p"].stderr)
        if persistent:
            s.restart()
        p, n = s.calls("get", CHAIN)
        tap.is_((p.returncode, n), (0, 2),
                "%s: nothing of it was kept: STS for both hops again" % label, p.stderr)
    s.clean()


def main(tap, run):
    krtest.require_file(krtest.keyroled(), "keyroled")
    moto = run.moto()
    seed = krtest.seed_chain(moto, session_names=["kr-test"])
    proxy = run.proxy(moto.url)

    scenarios(tap, Setup(run, seed, proxy, "memory"))

    try:
        ks = run.keyring()
    except krtest.Skip as e:
        tap.skip("secret-service: forget", str(e))
    else:
        scenarios(tap, Setup(run, seed, proxy, "secret-service", daemon_env=ks.env()))

    if subprocess.run(["keyctl", "show", "@u"],
                      capture_output=True).returncode != 0:
        tap.skip("keyctl: forget", "keyctl does not work here")
    else:
        s = Setup(run, seed, proxy, "keyctl")
        try:
            scenarios(tap, s)
        finally:
            s.clean()  # root's user keyring is shared machine-wide


krtest.main(main)
