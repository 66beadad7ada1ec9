"""A local fake of AWS's federation (sign-in) endpoint, for `keyrole console`
tests: GET /federation?Action=getSigninToken&Session=<JSON>[&SessionDuration=N]
answers {"SigninToken": <random>}. It listens on 127.0.0.1 at once; stop()
it (or hand it to run.adopt()).

    fake = run.adopt(FakeSignin())
    env["KEYROLE_FEDERATION_URL"] = fake.url       # http://127.0.0.1:PORT/federation
    ... keyrole console PROFILE --print ...
    fake.requests()   -> [{"session": {"sessionId", "sessionKey", "sessionToken"},
                           "keys": [...JSON keys in order...], "duration": "1800" | None,
                           "params": {name: value}, "token": the SigninToken answered}]
    fake.fail_next(status, body=b"...")   the next answer is an error
    fake.answer_next(body)                the next answer is this body (status 200)

What it records holds secrets (keys, session tokens, SigninTokens): the
fake never prints or logs any of it (log_message is silent) and a test must
not put it in a TAP line.
"""

import http.server
import json
import secrets
import threading
import urllib.parse


class FakeSignin:
    def __init__(self, path="/federation"):
        outer = self
        self._lock = threading.Lock()
        self._reqs = []
        self._next = []
        self.path = path

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass  # the request line holds the session: never logged

            def _send(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
                params = {k: v[0] for k, v in q.items()}
                if u.path != outer.path or params.get("Action") != "getSigninToken":
                    self._send(400, b'{"error":"bad request"}')
                    return
                rec = {"params": params, "duration": params.get("SessionDuration"),
                       "session": None, "keys": [], "token": None}
                try:
                    pairs = json.loads(params.get("Session", ""),
                                       object_pairs_hook=lambda kv: kv)
                    rec["keys"] = [k for k, _ in pairs]
                    rec["session"] = dict(pairs)
                except (ValueError, TypeError):
                    pass
                with outer._lock:
                    canned = outer._next.pop(0) if outer._next else None
                    outer._reqs.append(rec)
                if canned:
                    self._send(canned[0], canned[1])
                    return
                if not rec["session"]:
                    self._send(400, b'{"error":"no session"}')
                    return
                token = secrets.token_urlsafe(300)
                rec["token"] = token
                self._send(200, json.dumps({"SigninToken": token}).encode())

            def do_POST(self):
                self._send(405, b'{"error":"GET only"}')

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d%s" % (self.port, path)
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       kwargs={"poll_interval": 0.05})
        self.thread.start()

    def requests(self):
        with self._lock:
            return list(self._reqs)

    def last(self):
        r = self.requests()
        return r[-1] if r else None

    def fail_next(self, status, body=b'{"error":"refused"}'):
        with self._lock:
            self._next.append((status, body))

    def answer_next(self, body):
        with self._lock:
            self._next.append((200, body))

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(5)

    def close(self):
        self.stop()
