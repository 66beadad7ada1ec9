"""A local fake of the EC2 instance metadata service (IMDS), for
credential_source = Ec2InstanceMetadata tests, usable by keyroled and by
botocore alike (AWS_EC2_METADATA_SERVICE_ENDPOINT = fake.url):

  PUT /latest/api/token  (x-aws-ec2-metadata-token-ttl-seconds: 1..21600)
      -> a fresh IMDSv2 token (400 without a valid TTL header)
  GET /latest/meta-data/iam/security-credentials/       -> the role name
  GET /latest/meta-data/iam/security-credentials/ROLE   -> the credentials JSON

GETs must carry a token it issued (x-aws-ec2-metadata-token), else 401,
unless v1 is allowed. Modes:
  FakeImds(mode="v2")        IMDSv2 and IMDSv1 (a GET without a token is answered)
  FakeImds(mode="v2-only")   GETs without a valid token get 401
  FakeImds(mode="v1-only")   the token PUT answers 404 (an old service): IMDSv1 only

Each answer's AccessKeyId is "ASIAIMDS" + a counter, so a test can tell a
fresh fetch from a cached one; fake.creds_for(role) sets other fields.
fake.requests() lists {"method", "path", "token": bool, "ttl"} per request.
It logs nothing (the credentials and tokens are secrets).
"""

import datetime
import http.server
import json
import secrets
import threading


def _expiry(seconds):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeImds:
    PREFIX = "/latest/meta-data/iam/security-credentials/"

    def __init__(self, mode="v2", role="ec2-instance-role", lifetime=6 * 3600, host="127.0.0.1"):
        outer = self
        self.mode = mode
        self.role = role
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._reqs = []
        self._tokens = set()
        self._n = 0
        self.answer_creds = None  # a body to answer instead of the credentials

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, status, body, ctype="text/plain"):
                if isinstance(body, str):
                    body = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                ttl = self.headers.get("x-aws-ec2-metadata-token-ttl-seconds")
                outer._log("PUT", self.path, False, ttl)
                if self.path != "/latest/api/token":
                    return self._send(404, "not found")
                if outer.mode == "v1-only":
                    return self._send(404, "not found")
                try:
                    ok = 1 <= int(ttl) <= 21600
                except (TypeError, ValueError):
                    ok = False
                if not ok:
                    return self._send(400, "bad ttl")
                tok = secrets.token_urlsafe(32)
                with outer._lock:
                    outer._tokens.add(tok)
                self._send(200, tok)

            def do_GET(self):
                tok = self.headers.get("x-aws-ec2-metadata-token")
                with outer._lock:
                    valid = tok in outer._tokens
                outer._log("GET", self.path, tok is not None, None)
                if tok is not None and not valid:
                    return self._send(401, "bad token")
                if tok is None and outer.mode == "v2-only":
                    return self._send(401, "token required")
                if self.path == outer.PREFIX:
                    return self._send(200, outer.role)
                if self.path == outer.PREFIX + outer.role:
                    with outer._lock:
                        outer._n += 1
                        n = outer._n
                    body = outer.answer_creds or json.dumps({
                        "Code": "Success", "LastUpdated": _expiry(0), "Type": "AWS-HMAC",
                        "AccessKeyId": "ASIAIMDS%08d" % n,
                        "SecretAccessKey": "imds-secret-%d" % n,
                        "Token": "imds-token-%d" % n,
                        "Expiration": _expiry(outer.lifetime)})
                    return self._send(200, body, "application/json")
                self._send(404, "not found")

        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://%s:%d/" % (host, self.port)
        self._t = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._t.start()

    def _log(self, method, path, token, ttl):
        with self._lock:
            self._reqs.append({"method": method, "path": path, "token": token, "ttl": ttl})

    def requests(self):
        with self._lock:
            return list(self._reqs)

    def clear(self):
        with self._lock:
            self._reqs = []

    def fetches(self):
        """How many credential answers were given."""
        with self._lock:
            return self._n

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
