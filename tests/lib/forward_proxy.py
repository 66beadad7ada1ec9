"""A tiny HTTP forward proxy for scenario tests, the kind HTTPS_PROXY and
http_proxy point at, that counts what goes through it.

- "POST http://127.0.0.1:PORT/path HTTP/1.1" (absolute form, what a client
  sends for an http:// URL through a proxy) is forwarded to that host with
  the same method, path, headers (Host included: SigV4 stays valid) and
  body, and the answer is passed back.
- "CONNECT 127.0.0.1:PORT" (what a client sends for an https:// URL) is
  answered 200 and then relayed byte for byte both ways (a tunnel: the TLS
  inside is the client's and the server's).

Only 127.0.0.1 and localhost are reachable through it. Every request is
recorded as {"method", "target", "action"} (action: the form's Action for
a forwarded POST, None for CONNECT); nothing else is kept: never headers,
keys or tokens.
"""

import http.client
import http.server
import select
import socket
import threading
import urllib.parse

_ALLOWED = ("127.0.0.1", "localhost")
_MAX_BODY = 1024 * 1024
_TIMEOUT_S = 30


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _TIMEOUT_S
    owner = None  # the ForwardProxy, set on a subclass

    def log_message(self, format, *args):  # noqa: A002 - base class name
        pass

    def _refuse(self, status, why):
        body = ("forward proxy: %s\n" % why).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_CONNECT(self):
        host, _, port = self.path.rpartition(":")
        self.owner._record("CONNECT", self.path, None)
        if host not in _ALLOWED or not port.isdigit():
            self._refuse(403, "only 127.0.0.1 is reachable")
            return
        try:
            up = socket.create_connection((host, int(port)), timeout=_TIMEOUT_S)
        except OSError:
            self._refuse(502, "cannot connect")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        socks = [self.connection, up]
        try:
            while True:
                ready, _, _ = select.select(socks, [], [], _TIMEOUT_S)
                if not ready:
                    break
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (up if s is self.connection else self.connection).sendall(data)
        except OSError:
            pass
        finally:
            up.close()

    def _forward(self):
        u = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > _MAX_BODY:
            self._refuse(400, "bad Content-Length")
            return
        body = self.rfile.read(n) if n else b""
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        self.owner._record(self.command, "%s:%s" % (u.hostname, u.port),
                           (form.get("Action") or [None])[0])
        if u.scheme != "http" or u.hostname not in _ALLOWED:
            self._refuse(403, "only http://127.0.0.1 is reachable")
            return
        up = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=_TIMEOUT_S)
        try:
            up.putrequest(self.command, u.path or "/", skip_host=True,
                          skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in ("proxy-connection", "connection", "content-length"):
                    up.putheader(k, v)
            up.putheader("Content-Length", str(len(body)))
            up.endheaders(body)
            resp = up.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("content-length", "connection", "transfer-encoding",
                                     "server", "date"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self._refuse(502, "upstream failed")
        finally:
            up.close()

    do_POST = _forward
    do_GET = _forward


class ForwardProxy:
    """ForwardProxy() -> a started proxy on 127.0.0.1; .url is its address.
    Call stop() (or use run.adopt()) when done."""

    def __init__(self):
        self._lock = threading.Lock()
        self._records = []
        handler = type("_BoundHandler", (_Handler,), {"owner": self})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _record(self, method, target, action):
        with self._lock:
            self._records.append({"method": method, "target": target, "action": action})

    def requests(self):
        with self._lock:
            return [dict(r) for r in self._records]

    def count(self, method=None):
        with self._lock:
            return sum(1 for r in self._records if method is None or r["method"] == method)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
