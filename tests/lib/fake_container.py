"""A local fake of the container credentials endpoint (ECS task roles, EKS
Pod Identity), for credential_source = EcsContainer tests, usable by
keyroled and by botocore alike (AWS_CONTAINER_CREDENTIALS_FULL_URI =
fake.url): GET PATH answers the credentials JSON when the Authorization
header equals fake.token (or when fake.token is None), else 401.

Each answer's AccessKeyId is "ASIACONT" + a counter (fake.answer_creds: a
body to answer instead, e.g. real session keys); fake.requests() lists
{"path", "auth_ok": bool, "auth_present": bool}. It logs nothing.
"""

import datetime
import http.server
import json
import threading


class FakeContainer:
    def __init__(self, path="/v1/credentials", token=None, lifetime=6 * 3600,
                 host="127.0.0.1"):
        outer = self
        self.path = path
        self.token = token
        self.lifetime = lifetime
        self.fail_next = 0  # answer 500 to the next N requests
        self.answer_creds = None  # a body to answer instead of made-up credentials
        self._lock = threading.Lock()
        self._reqs = []
        self._n = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, status, body):
                body = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                auth = self.headers.get("Authorization")
                ok = outer.token is None or auth == outer.token
                with outer._lock:
                    outer._reqs.append({"path": self.path, "auth_ok": ok,
                                        "auth_present": auth is not None})
                    fail = outer.fail_next > 0
                    if fail:
                        outer.fail_next -= 1
                if self.path != outer.path:
                    return self._send(404, '{"message":"not found"}')
                if not ok:
                    return self._send(401, '{"message":"bad authorization"}')
                if fail:
                    return self._send(500, '{"message":"try again"}')
                with outer._lock:
                    outer._n += 1
                    n = outer._n
                t = (datetime.datetime.now(datetime.timezone.utc)
                     + datetime.timedelta(seconds=outer.lifetime))
                self._send(200, outer.answer_creds or json.dumps({
                    "AccessKeyId": "ASIACONT%08d" % n,
                    "SecretAccessKey": "container-secret-%d" % n,
                    "Token": "container-token-%d" % n,
                    "Expiration": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "RoleArn": "arn:aws:iam::123456789012:role/task"}))

        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://%s:%d%s" % (host, self.port, path)
        self._t = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._t.start()

    def requests(self):
        with self._lock:
            return list(self._reqs)

    def fetches(self):
        with self._lock:
            return self._n

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
