"""A fault-injecting HTTP/1.1 reverse proxy for scenario tests.

Sits on 127.0.0.1 in front of moto_server (or any HTTP upstream) and passes
each request through unchanged: method, path, every header (Host included)
and the body byte for byte. SigV4 stays valid because the client signed the
Host it connected to (the proxy's host:port) and the upstream checks the
signature against the Host header it receives, which we forward as is.

What a test can do from its own thread (all controls are thread-safe):
  fail_next(n, kind, match=None)   the next n matching requests fail:
      "throttle"  HTTP 400 with an STS <ErrorResponse> Throttling body
      "503"       HTTP 503, plain text body
      "500html"   HTTP 500, an HTML page (what moto gives on bad input)
      "drop"      the request is read, then the connection is closed
                  without any answer
  delay(seconds, match=None)       delay matching requests (0 clears)
  hold(match=None) / release()     park matching requests until release()
  down(True|False, mode="close")   "close": accept and close at once;
                                   "refuse": stop listening (ECONNREFUSED)
  short_sessions(seconds)          rewrite <Expiration> in AssumeRole and
                                   GetSessionToken answers to now + seconds
                                   (0 turns it off): STS sessions that last
                                   a minute
  around_action(action, enter, leave)  call enter()/leave() around each
                                   forwarded request of that Action
  counts(), reset_counts(), requests(), wait_for(n, timeout)

Invariant: the proxy never records or logs a secret. A request record keeps
only Action, RoleArn, RoleSessionName, the time, the fault applied and the
upstream status; never keys, tokens, MFA codes, policies or headers (a web
identity token only as a truncated SHA-256, "token_sha", so that a test can
tell which token file's contents a call carried).
"""

import hashlib
import http.client
import re
import http.server
import socket
import threading
import time
import urllib.parse

FAULT_KINDS = ("throttle", "503", "500html", "drop")


def _digest(secret):
    """A secret's name for a test: 12 hex digits of its SHA-256; None for none."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12] if secret is not None else None

_THROTTLE_BODY = (
    b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n'
    b"  <Error>\n"
    b"    <Type>Sender</Type>\n"
    b"    <Code>Throttling</Code>\n"
    b"    <Message>Rate exceeded</Message>\n"
    b"  </Error>\n"
    b"  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>\n"
    b"</ErrorResponse>\n"
)
_503_BODY = b"Service Unavailable\n"
_500_BODY = (
    b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
    b"<h1>Internal Server Error</h1>\n<p>The server encountered an internal "
    b"error and was unable to complete your request.</p>\n"
)

# Headers that belong to one hop and are not forwarded (none of them is ever
# part of a SigV4 signature: curl adds Expect after signing).
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
}

_MAX_BODY = 1024 * 1024  # a request body over this is refused (400)
_HOLD_MAX_S = 60.0  # a held request is released after this, whatever happens
_UPSTREAM_TIMEOUT_S = 30.0


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection is closed after this
    proxy = None  # set on the per-proxy subclass

    def log_message(self, format, *args):  # noqa: A002 - base class name
        pass  # quiet: the test prints what matters

    def setup(self):
        super().setup()
        self.proxy._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.proxy._track(self.connection, False)

    def handle(self):
        if self.proxy._is_down():
            self.close_connection = True
            _hard_close(self.connection)
            return
        super().handle()

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > _MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(16)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length", "0") or "0")
        if n < 0 or n > _MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(n) if n else b""

    def _reply(self, status, ctype, body, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _any(self):
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._reply(400, "text/plain", b"bad request\n")
            return
        rec = self.proxy._arrived(body)
        rec["signed"] = self.headers.get("Authorization") is not None  # never its value
        self.proxy._wait_rules(body)
        fault = self.proxy._take_fault(body)
        rec["fault"] = fault
        if fault == "drop":
            self.close_connection = True
            _hard_close(self.connection)
            return
        if fault == "throttle":
            rec["status"] = 400
            self._reply(400, "text/xml", _THROTTLE_BODY)
            return
        if fault == "503":
            rec["status"] = 503
            self._reply(503, "text/plain", _503_BODY)
            return
        if fault == "500html":
            rec["status"] = 500
            self._reply(500, "text/html; charset=utf-8", _500_BODY)
            return
        hook = self.proxy._around.get(rec["action"])
        if hook:
            with self.proxy._around_lock:
                hook[0]()
                try:
                    self._forward(body, rec)
                finally:
                    hook[1]()
            return
        self._forward(body, rec)

    def _forward(self, body, rec):
        up = http.client.HTTPConnection(
            self.proxy.upstream_host, self.proxy.upstream_port, timeout=_UPSTREAM_TIMEOUT_S
        )
        try:
            up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() in _HOP_BY_HOP or k.lower() == "content-length":
                    continue
                up.putheader(k, v)
            if body or self.command in ("POST", "PUT", "PATCH"):
                up.putheader("Content-Length", str(len(body)))
            up.endheaders(body if body else None)
            resp = up.getresponse()
            data = resp.read()
            # send_response() adds our own Server and Date headers.
            skip = _HOP_BY_HOP | {"content-length", "server", "date"}
            headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in skip]
            status = resp.status
            data = self.proxy._rewrite(data)
        except OSError as e:
            rec["status"] = 502
            msg = ("proxy: upstream failed: %s\n" % e.__class__.__name__).encode()
            self._reply(502, "text/plain", msg)
            return
        finally:
            up.close()
        rec["status"] = status
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = _any
    do_POST = _any
    do_PUT = _any
    do_DELETE = _any
    do_HEAD = _any
    do_PATCH = _any


def _hard_close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _form_field(form, name):
    v = form.get(name)
    return v[0] if v else None


class FaultProxy:
    """FaultProxy(upstream_url) -> a started proxy; .url is its address.

    upstream_url is e.g. moto.url ("http://127.0.0.1:PORT"). Use as a context
    manager or call stop(). Listens on 127.0.0.1 only.
    """

    def __init__(self, upstream_url, port=0):
        u = urllib.parse.urlsplit(upstream_url)
        if u.scheme != "http" or not u.hostname:
            raise ValueError("FaultProxy upstream must be http://host:port")
        self.upstream_host = u.hostname
        self.upstream_port = u.port or 80
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._faults = []  # [remaining, kind, match]
        self._session_s = 0  # short_sessions()
        self._delays = {}  # match (None = all) -> seconds
        self._hold_match = None
        self._holding = False
        self._gate = threading.Event()
        self._gate.set()
        self._records = []
        self._around = {}  # action -> (enter, leave): around_action()
        self._around_lock = threading.Lock()
        self._down_mode = None  # None, "close" or "refuse"
        self._conns = set()
        self._server = None
        self._thread = None
        self.port = port
        self._start_server()

    # ---- life cycle -------------------------------------------------------

    def _start_server(self):
        handler = type("_BoundHandler", (_Handler,), {"proxy": self})
        self._server = _Server(("127.0.0.1", self.port), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _stop_server(self):
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._server = None
        self._thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        """Stop listening, release held requests, close open connections."""
        self.release()
        self._stop_server()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            _hard_close(c)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _track(self, conn, add):
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # ---- controls ---------------------------------------------------------

    def short_sessions(self, seconds):
        """Rewrite every <Expiration> of an STS answer to now + seconds (0: off)."""
        with self._lock:
            self._session_s = int(seconds)

    def _rewrite(self, data):
        with self._lock:
            s = self._session_s
        if not s or b"<Expiration>" not in data:
            return data
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + s)).encode()
        return re.sub(rb"<Expiration>[^<]*</Expiration>",
                      b"<Expiration>" + when + b"</Expiration>", data)

    def fail_next(self, n, kind="throttle", match=None):
        """Fail the next n requests (whose form body contains match, if given).

        kind: "throttle", "503", "500html" or "drop". The order
        fail_next("throttle", 2) is accepted too.
        """
        if isinstance(n, str) and not isinstance(kind, str):
            n, kind = kind, n
        elif isinstance(n, str) and kind == "throttle" and n in FAULT_KINDS:
            n, kind = 1, n
        if kind not in FAULT_KINDS:
            raise ValueError("fault kind must be one of %s" % (FAULT_KINDS,))
        if int(n) < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            self._faults.append([int(n), kind, match])

    def clear_faults(self):
        with self._lock:
            self._faults = []

    def delay(self, seconds, match=None):
        """Delay requests whose form body contains match (None: all) by seconds.

        delay(0, match) removes that rule. Rules add up when several match.
        """
        with self._lock:
            if seconds and seconds > 0:
                self._delays[match] = float(seconds)
            else:
                self._delays.pop(match, None)

    def clear_delays(self):
        with self._lock:
            self._delays = {}

    def hold(self, match=None):
        """Park matching requests (None: all) until release() (or 60 s)."""
        with self._lock:
            self._hold_match = match
            self._holding = True
            self._gate.clear()

    def release(self):
        with self._lock:
            self._holding = False
            self._gate.set()

    def down(self, is_down=True, mode="close"):
        """Make the upstream look unreachable.

        Either way, connections already open (kept alive) are cut.
        mode "close": connections are accepted and closed at once, unread.
        mode "refuse": the listening socket is closed (ECONNREFUSED); the same
        port is bound again by down(False).
        """
        if mode not in ("close", "refuse"):
            raise ValueError("mode must be 'close' or 'refuse'")
        with self._lock:
            was = self._down_mode
            self._down_mode = mode if is_down else None
            live = list(self._conns) if is_down else []
        # A kept-alive connection would go on answering (curl reuses it): cut it.
        for c in live:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if is_down and mode == "refuse" and was != "refuse":
            self._stop_server()
        elif not is_down and was == "refuse":
            self._start_server()

    def around_action(self, action, enter, leave):
        """Call enter() before and leave() after forwarding each request of
        action, one at a time (e.g. moto 5.2 answers HTTP 500 to an unsigned
        AssumeRoleWithWebIdentity while its auth is enforced: turn it off
        around that call only)."""
        with self._lock:
            self._around[action] = (enter, leave)

    def _is_down(self):
        with self._lock:
            return self._down_mode is not None

    # ---- accounting -------------------------------------------------------

    def counts(self):
        """{"total": N, "AssumeRole": N, ...}: requests that reached the proxy
        (faulted ones included; connections closed while down are not)."""
        with self._lock:
            out = {"total": len(self._records)}
            for r in self._records:
                a = r["action"] or "?"
                out[a] = out.get(a, 0) + 1
            return out

    def count(self, action=None):
        c = self.counts()
        return c["total"] if action is None else c.get(action, 0)

    def reset_counts(self):
        with self._lock:
            self._records = []

    def requests(self):
        """A copy of the request records, oldest first. Each is a dict with
        action, role_arn, session_name, token_sha, signed (an Authorization
        header was sent), time (time.time()), fault, status."""
        with self._lock:
            return [dict(r) for r in self._records]

    def wait_for(self, n, timeout=10.0, action=None):
        """Wait until at least n requests (of this action) arrived; bool."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = sum(1 for r in self._records if action is None or r["action"] == action)
                if got >= n:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))

    # ---- called from handler threads ---------------------------------------

    def _arrived(self, body):
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        except ValueError:
            form = {}
        rec = {
            "action": _form_field(form, "Action"),
            "role_arn": _form_field(form, "RoleArn"),
            "session_name": _form_field(form, "RoleSessionName"),
            "token_sha": _digest(_form_field(form, "WebIdentityToken")),
            "time": time.time(),
            "fault": None,
            "status": None,
        }
        with self._cond:
            self._records.append(rec)
            self._cond.notify_all()
        return rec

    def _wait_rules(self, body):
        text = body.decode("utf-8", "replace")
        # The body is form-encoded: match either the raw or decoded form.
        dec = urllib.parse.unquote_plus(text)
        with self._lock:
            total = sum(
                s for m, s in self._delays.items() if m is None or m in text or m in dec
            )
            hold = self._holding and (
                self._hold_match is None or self._hold_match in text or self._hold_match in dec
            )
        if hold:
            self._gate.wait(_HOLD_MAX_S)
        if total > 0:
            time.sleep(total)

    def _take_fault(self, body):
        text = body.decode("utf-8", "replace")
        dec = urllib.parse.unquote_plus(text)
        with self._lock:
            for f in self._faults:
                if f[0] > 0 and (f[2] is None or f[2] in text or f[2] in dec):
                    f[0] -= 1
                    kind = f[1]
                    self._faults = [x for x in self._faults if x[0] > 0]
                    return kind
        return None
