#!/usr/bin/python3
"""A FAKE RustFS admin API + minimal S3, for testing the provisioner's
rustfs driver.  RustFS cannot be built or run here, so this follows the
contract written down in /work/shared/RUSTFS.md (read from RustFS's source,
around 1.0.0-rc.3) and nothing more:

  - SigV4 header auth with the root key (service s3, region not checked,
    x-amz-date within 900 s, x-amz-content-sha256 = SHA-256 of the body or
    UNSIGNED-PAYLOAD, Content-Length on requests with a body);
  - /rustfs/admin/v3: add-user (upsert, status required), set-user-status,
    remove-user (a missing user answers 500, not 404), list-users (map keyed
    by access key), add-canned-policy (strict: Version 2012-10-17, no
    Principal, exact action names, S3 statements need Resource),
    info/list/remove-canned-policy (PolicyInUse while attached),
    set-user-or-group-policy (isGroup mandatory), quota/{bucket} (HARD,
    0 clears), quota-stats/{bucket}, datausageinfo;
  - S3: PUT/HEAD/DELETE bucket, ListObjectsV2, PUT/GET/DELETE object, with
    users' policies evaluated against arn:aws:s3:::bucket[/key];
  - errors as S3 XML.

Shapes RUSTFS.md does not spell out (quota-stats and datausageinfo bodies)
are this fake's assumption, mirrored in docs/provisioner.md; the manual
smoke procedure there checks them against a real RustFS.

    fake_rustfs.py PORT ROOT_AK ROOT_SK [STATE_FILE]

GET /_fake/state (no auth) dumps the state as JSON; POST /_fake/fail with
{"path_prefix": ..., "status": 503, "count": 1} injects failures.
"""

import datetime
import hashlib
import hmac
import json
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

S3_ACTIONS = {
    "s3:*", "s3:ListBucket", "s3:GetBucketLocation",
    "s3:ListBucketMultipartUploads", "s3:GetObject", "s3:PutObject",
    "s3:DeleteObject", "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts", "s3:CreateBucket", "s3:DeleteBucket",
    "s3:ListAllMyBuckets", "s3:GetBucketPolicy", "s3:PutBucketPolicy",
}
ADMIN_ACTIONS = {"admin:*"}

LOCK = threading.Lock()
STATE = {"users": {}, "policies": {}, "buckets": {}, "quotas": {},
         "requests": [], "failures": []}
ROOT = {}


class S3Error(Exception):
    def __init__(self, status, code, msg=""):
        self.status, self.code, self.msg = status, code, msg


def uri_encode(s, slash=True):
    return urllib.parse.quote(s, safe="-_.~" + ("/" if slash else ""))


def validate_policy(doc):
    if not isinstance(doc, dict) or set(doc) - {"Version", "Statement",
                                                "Id"}:
        raise S3Error(400, "MalformedPolicy", "unknown field")
    if doc.get("Version") != "2012-10-17":
        raise S3Error(400, "MalformedPolicy", "Version must be 2012-10-17")
    sts = doc.get("Statement")
    if not isinstance(sts, list) or not sts:
        raise S3Error(400, "MalformedPolicy", "Statement")
    for st in sts:
        if set(st) - {"Sid", "Effect", "Action", "Resource", "Condition"}:
            raise S3Error(400, "MalformedPolicy",
                          "unknown or forbidden field (Principal?)")
        if st.get("Effect") not in ("Allow", "Deny"):
            raise S3Error(400, "MalformedPolicy", "Effect")
        acts = st.get("Action")
        acts = [acts] if isinstance(acts, str) else acts
        if not acts:
            raise S3Error(400, "MalformedPolicy", "Action")
        s3 = [a for a in acts if a.startswith("s3:")]
        adm = [a for a in acts if a.startswith("admin:")]
        if s3 and adm:
            raise S3Error(400, "MalformedPolicy", "s3 and admin mixed")
        for a in acts:
            if a not in S3_ACTIONS | ADMIN_ACTIONS and a != "*":
                raise S3Error(400, "MalformedPolicy", "bad action " + a)
        if s3 and not st.get("Resource"):
            raise S3Error(400, "MalformedPolicy", "Resource required")


def allowed(user, action, arn):
    pol = STATE["policies"].get(user.get("policyName") or "")
    if not pol:
        return False
    ok = False
    for st in pol["Statement"]:
        acts = st["Action"] if isinstance(st["Action"], list) \
            else [st["Action"]]
        res = st.get("Resource") or []
        res = [res] if isinstance(res, str) else res
        if not any(a in (action, "s3:*", "*") for a in acts):
            continue
        if not any(re.fullmatch(re.escape(r).replace(r"\*", ".*"), arn)
                   for r in res):
            continue
        if st["Effect"] == "Deny":
            return False
        ok = True
    return ok


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    # -------------------------------------------------------------- auth

    def authenticate(self, body):
        auth = self.headers.get("Authorization", "")
        m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/"
                     r"s3/aws4_request, ?SignedHeaders=([^,]+), ?"
                     r"Signature=([0-9a-f]{64})$", auth)
        if not m:
            raise S3Error(403, "AccessDenied", "missing or bad auth")
        ak, date, region, signed, sig = m.groups()
        amz_date = self.headers.get("x-amz-date")
        if not amz_date:
            raise S3Error(403, "AccessDenied", "x-amz-date required")
        t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
        now = datetime.datetime.now(datetime.timezone.utc)
        if abs((now - t).total_seconds()) > 900:
            raise S3Error(403, "RequestTimeTooSkewed")
        ph = self.headers.get("x-amz-content-sha256")
        if ph is None:
            raise S3Error(400, "InvalidRequest", "x-amz-content-sha256")
        if ph != "UNSIGNED-PAYLOAD" and ph != hashlib.sha256(body).hexdigest():
            raise S3Error(400, "XAmzContentSHA256Mismatch")
        if ak == ROOT["ak"]:
            sk, user = ROOT["sk"], None
        elif ak in STATE["users"]:
            user = STATE["users"][ak]
            sk = user["secretKey"]
        else:
            raise S3Error(403, "InvalidAccessKeyId")
        path, _, query = self.path.partition("?")
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        cq = "&".join("%s=%s" % (uri_encode(k, False), uri_encode(v, False))
                      for k, v in sorted(pairs))
        names = signed.split(";")
        if "host" not in names:
            raise S3Error(403, "AccessDenied", "host not signed")
        ch = "".join("%s:%s\n" % (n, " ".join(
            (self.headers.get(n) or "").split())) for n in names)
        creq = "\n".join([self.command, path, cq, ch, signed, ph])
        scope = "%s/%s/s3/aws4_request" % (date, region)
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(creq.encode()).hexdigest()])
        k = ("AWS4" + sk).encode()
        for part in (date, region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig):
            raise S3Error(403, "SignatureDoesNotMatch")
        if user is not None and user.get("status") != "enabled":
            raise S3Error(403, "AccessDenied", "user disabled")
        return ak, user

    # -------------------------------------------------------------- I/O

    def send(self, status, body=b"", ctype="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, e):
        xml = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s"
               "</Code><Message>%s</Message></Error>" % (e.code, e.msg))
        self.send(e.status, xml, "application/xml")

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if self.command in ("PUT", "POST") and \
                self.headers.get("Content-Length") is None:
            return self.error(S3Error(411, "MissingContentLength"))
        body = self.rfile.read(n) if n else b""
        path, _, query = self.path.partition("?")
        q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        with LOCK:
            STATE["requests"].append("%s %s" % (self.command, path))
            if path.startswith("/_fake/"):
                return self.fake(path, body)
            for f in STATE["failures"]:
                if f["count"] > 0 and path.startswith(f["path_prefix"]):
                    f["count"] -= 1
                    return self.error(S3Error(f["status"],
                                              "ServiceUnavailable",
                                              "injected"))
            try:
                ak, user = self.authenticate(body)
                if path.startswith("/rustfs/admin/v3/"):
                    if user is not None:
                        raise S3Error(403, "AccessDenied", "admin only")
                    return self.admin(path[len("/rustfs/admin/v3/"):], q,
                                      body)
                return self.s3(path, q, body, user)
            except S3Error as e:
                return self.error(e)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    def fake(self, path, body):
        if path == "/_fake/state":
            return self.send(200, {k: v for k, v in STATE.items()
                                   if k != "requests"})
        if path == "/_fake/requests":
            return self.send(200, STATE["requests"])
        if path == "/_fake/fail":
            STATE["failures"].append(json.loads(body))
            return self.send(200, {})
        return self.send(404, {})

    # -------------------------------------------------------------- admin

    def admin(self, op, q, body):
        users, pols = STATE["users"], STATE["policies"]
        if op == "add-user" and self.command == "PUT":
            d = json.loads(body or b"{}")
            if "status" not in d or "secretKey" not in d:
                raise S3Error(400, "InvalidArgument", "status required")
            u = users.setdefault(q["accessKey"], {})
            u.update(secretKey=d["secretKey"], status=d["status"])
            return self.send(200)
        if op == "set-user-status" and self.command == "PUT":
            if q.get("accessKey") not in users:
                raise S3Error(404, "XMinioAdminNoSuchUser")
            users[q["accessKey"]]["status"] = q["status"]
            return self.send(200)
        if op == "remove-user" and self.command == "DELETE":
            if q.get("accessKey") not in users:
                raise S3Error(500, "InternalError", "user not found")
            del users[q["accessKey"]]
            return self.send(200)
        if op == "list-users" and self.command == "GET":
            return self.send(200, {ak: {k: v for k, v in u.items()
                                        if k != "secretKey"}
                                   for ak, u in users.items()})
        if op == "add-canned-policy" and self.command == "PUT":
            name = q.get("name", "")
            if not name or re.search(r"[\s,]", name):
                raise S3Error(400, "InvalidArgument", "policy name")
            try:
                doc = json.loads(body)
            except ValueError:
                raise S3Error(400, "MalformedPolicy", "not JSON")
            validate_policy(doc)
            pols[name] = doc
            return self.send(200)
        if op == "info-canned-policy" and self.command == "GET":
            if q.get("name") not in pols:
                raise S3Error(404, "XMinioAdminNoSuchPolicy")
            return self.send(200, pols[q["name"]])
        if op == "list-canned-policies":
            return self.send(200, pols)
        if op == "remove-canned-policy" and self.command == "DELETE":
            name = q.get("name")
            if name not in pols:
                raise S3Error(404, "XMinioAdminNoSuchPolicy")
            if any(u.get("policyName") == name for u in users.values()):
                raise S3Error(400, "PolicyInUse")
            del pols[name]
            return self.send(200)
        if op == "set-user-or-group-policy" and self.command == "PUT":
            if "isGroup" not in q:
                raise S3Error(400, "InvalidArgument", "isGroup mandatory")
            if q.get("policyName") not in pols:
                raise S3Error(404, "XMinioAdminNoSuchPolicy")
            if q.get("userOrGroup") not in users:
                raise S3Error(404, "XMinioAdminNoSuchUser")
            users[q["userOrGroup"]]["policyName"] = q["policyName"]
            return self.send(200)
        if op.startswith("quota/") and self.command == "PUT":
            b = op[len("quota/"):]
            if b not in STATE["buckets"]:
                raise S3Error(404, "NoSuchBucket")
            d = json.loads(body)
            if d.get("quota_type") != "HARD" or \
                    not isinstance(d.get("quota"), int):
                raise S3Error(400, "InvalidArgument", "quota")
            if d["quota"] == 0:
                STATE["quotas"].pop(b, None)
            else:
                STATE["quotas"][b] = d["quota"]
            return self.send(200)
        if op.startswith("quota-stats/") and self.command == "GET":
            b = op[len("quota-stats/"):]
            if b not in STATE["buckets"]:
                raise S3Error(404, "NoSuchBucket")
            return self.send(200, {
                "bucket": b, "quota": STATE["quotas"].get(b, 0),
                "quota_type": "HARD",
                "current_usage": sum(len(v) for v in
                                     STATE["buckets"][b].values())})
        if op == "datausageinfo":
            return self.send(200, {
                "buckets_count": len(STATE["buckets"]),
                "buckets_usage": {b: {"size": sum(len(v) for v in o.values()),
                                      "objects_count": len(o)}
                                  for b, o in STATE["buckets"].items()}})
        raise S3Error(404, "NotImplemented", op)

    # -------------------------------------------------------------- s3

    def s3(self, path, q, body, user):
        parts = path.lstrip("/").split("/", 1)
        b = urllib.parse.unquote(parts[0])
        key = urllib.parse.unquote(parts[1]) if len(parts) > 1 else ""
        bk = STATE["buckets"]

        def need(action, arn):
            if user is not None and not allowed(user, action, arn):
                raise S3Error(403, "AccessDenied")

        if not key:
            if self.command == "PUT":
                need("s3:CreateBucket", "arn:aws:s3:::" + b)
                if b in bk:
                    raise S3Error(409, "BucketAlreadyOwnedByYou")
                bk[b] = {}
                return self.send(200)
            if b not in bk:
                raise S3Error(404, "NoSuchBucket")
            if self.command == "HEAD":
                need("s3:ListBucket", "arn:aws:s3:::" + b)
                return self.send(200)
            if self.command == "DELETE":
                need("s3:DeleteBucket", "arn:aws:s3:::" + b)
                if bk[b]:
                    raise S3Error(409, "BucketNotEmpty")
                del bk[b]
                STATE["quotas"].pop(b, None)
                return self.send(204)
            if self.command == "GET":
                need("s3:ListBucket", "arn:aws:s3:::" + b)
                keys = sorted(bk[b])[:int(q.get("max-keys", 1000))]
                xml = "".join("<Contents><Key>%s</Key><Size>%d</Size>"
                              "</Contents>" % (
                                  k.replace("&", "&amp;")
                                   .replace("<", "&lt;"), len(bk[b][k]))
                              for k in keys)
                return self.send(200, "<ListBucketResult><Name>%s</Name>%s"
                                 "</ListBucketResult>" % (b, xml),
                                 "application/xml")
        if b not in bk:
            raise S3Error(404, "NoSuchBucket")
        arn = "arn:aws:s3:::%s/%s" % (b, key)
        if self.command == "PUT":
            need("s3:PutObject", arn)
            quota = STATE["quotas"].get(b, 0)
            used = sum(len(v) for k, v in bk[b].items() if k != key)
            if quota and used + len(body) > quota:
                raise S3Error(400, "InvalidRequest", "quota exceeded")
            bk[b][key] = body.decode("latin-1")
            return self.send(200)
        if self.command in ("GET", "HEAD"):
            need("s3:GetObject", arn)
            if key not in bk[b]:
                raise S3Error(404, "NoSuchKey")
            return self.send(200, bk[b][key].encode("latin-1"),
                             "application/octet-stream")
        if self.command == "DELETE":
            need("s3:DeleteObject", arn)
            bk[b].pop(key, None)
            return self.send(204)
        raise S3Error(405, "MethodNotAllowed")


def main():
    port, ROOT["ak"], ROOT["sk"] = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    print("fake rustfs listening on 127.0.0.1:%d" % port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
