#!/usr/bin/python3
"""A FAKE RustShare control plane, for tests and benchmarks only.

RustShare is not available here, so this small server implements exactly
the contract in docs/rustshare-api.md and nothing more: bearer auth, the
paged snapshot pinned to a revision, changes since a revision (long poll,
ETag / If-None-Match, 304, 410 when the change log no longer reaches back),
the push endpoints with Idempotency-Key, and the secret hand-over (each
secret sealed to the provisioner's RSA public key: RSA-OAEP-SHA-256
wrapping an AES-256-GCM data key, the data key reused for up to
DEK_REUSE secrets as the contract allows, and sent once per response in
"data_keys").

    fake_rustshare.py PORT TOKEN PUBKEY.pem [--tls CERT KEY]

prints "ready PORT" on stdout once it listens on 127.0.0.1.  Test-only
control endpoints (no auth) live under /_fake/ (see Handler.do_POST).
"""

import base64
import hashlib
import json
import os
import select
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

API = "/v1/objspace"
ALG = "RSA-OAEP-256+A256GCM"
AAD = b"objspace-handover-v1:"
DEK_REUSE = 10000


def b64(b):
    return base64.b64encode(b).decode()


class Sealer:
    """The RustShare side of the hand-over (docs/rustshare-api.md)."""

    def __init__(self, pem):
        self.pub = serialization.load_pem_public_key(pem)
        der = self.pub.public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = hashlib.sha256(der).hexdigest()[:16]
        self.dek = None
        self.uses = 0
        self.data_keys = {}         # dek id -> ek, every DEK ever used

    def seal(self, secret, access_key_id):
        if self.dek is None or self.uses >= DEK_REUSE:
            self.dek = AESGCM.generate_key(bit_length=256)
            ek = b64(self.pub.encrypt(self.dek, padding.OAEP(
                mgf=padding.MGF1(algorithm=hashes.SHA256()),
                algorithm=hashes.SHA256(), label=None)))
            self.dek_id = hashlib.sha256(ek.encode()).hexdigest()[:16]
            self.data_keys[self.dek_id] = ek
            self.uses = 0
        self.uses += 1
        iv = os.urandom(12)
        ct = AESGCM(self.dek).encrypt(iv, secret.encode(),
                                      AAD + access_key_id.encode())
        return {"alg": ALG, "kid": self.kid, "dek": self.dek_id,
                "iv": b64(iv), "ct": b64(ct)}


class State:
    def __init__(self, token, sealer):
        self.token = token
        self.sealer = sealer
        self.lock = threading.Condition()
        self.revision = 0
        self.spaces = {}            # id -> object
        self.identities = {}
        self.ser = {}               # id -> the object's JSON (pages are
                                    # joined from these, not re-encoded)
        self.log = []               # (rev, type, op, id, object)
        self.log_floor = 0          # changes since < floor: 410
        self.snapshots = {}         # snapshot id -> (rev, [objects])
        self.faults = []            # {"path_prefix","status","count",...}
        self.hangs = []             # {"path_prefix", "until"}: RustShare
                                    # stops answering those paths
        self.hung = []              # (path, seconds held, client gone)
        self.hanging = 0            # requests held right now
        self.requests = []          # (method, path, status)
        self.pushed = {"usage": [], "key-usage": [], "audit": []}
        self.attempts = []          # every push request: {kind, key, n,
                                    # status, duplicate}, faults included
        self.idem = {}              # Idempotency-Key -> status
        self.committed = {}         # revision -> commit time (benchmarks)

    def change(self, typ, op, oid, obj):
        with self.lock:
            self.revision += 1
            store = self.spaces if typ == "space" else self.identities
            if op == "upsert":
                store[oid] = obj
                self.ser[oid] = json.dumps(obj)
            else:
                store.pop(oid, None)
            if typ == "space" and op == "delete":
                # its identities go with it (the contract: no change entries)
                for i in [i for i, o in self.identities.items()
                          if o.get("space_id") == oid]:
                    del self.identities[i]
            self.log.append((self.revision, typ, op, oid, obj))
            self.committed[self.revision] = time.time()
            self.lock.notify_all()
            return self.revision

    def identity_object(self, spec):
        """spec: the identity with secret_plain / previous_secret_plain."""
        obj = {k: v for k, v in spec.items()
               if k not in ("secret_plain", "previous_secret_plain")}
        ak = obj.get("access_key_id", "")
        if "secret_plain" in spec:
            obj["secret"] = self.sealer.seal(spec["secret_plain"], ak)
        if spec.get("previous_secret_plain"):
            obj["previous_secret"] = self.sealer.seal(
                spec["previous_secret_plain"], ak)
        return obj


def data_keys(sealer, objects):
    """The "data_keys" of a response: every DEK its envelopes use."""
    out = {}
    for o in objects:
        for f in ("secret", "previous_secret"):
            env = (o or {}).get(f)
            if isinstance(env, dict) and env.get("dek") in sealer.data_keys:
                out[env["dek"]] = sealer.data_keys[env["dek"]]
    return out


def error_body(code, message):
    return json.dumps({"error": {"code": code, "message": message}})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-rustshare"
    disable_nagle_algorithm = True      # headers and body: no 40 ms stall

    def log_message(self, fmt, *args):
        pass

    # ------------------------------------------------------------ plumbing

    def send(self, status, body=None, headers=None):
        st = self.server.state
        data = b""
        if body is not None:
            data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        if status != 304:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if status != 304:
            self.wfile.write(data)
        with st.lock:
            st.requests.append((self.command, self.path, status))

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def fault(self):
        """An injected fault for this path: status (with a body, possibly
        malformed) or a delay longer than the client's timeout.  Returns
        the status sent, or False (no fault, or a delay only: the request
        is then served, after the client may have given up)."""
        st = self.server.state
        with st.lock:
            for f in st.faults:
                if self.path.startswith(f["path_prefix"]) and f["count"] > 0:
                    f["count"] -= 1
                    break
            else:
                return False
        if f.get("delay"):
            time.sleep(f["delay"])
            if not f.get("status"):
                return False
        status = f.get("status", 500)
        body = f.get("body")
        if body is None:
            body = error_body("internal", "injected fault")
        self.send(status, body)
        return status

    def hang(self):
        """RustShare hanging (a test control, /_fake/hang): a request on
        a hung path gets no answer until the hang ends (its time runs out
        or /_fake/release), then is served as usual.  False if the client
        gave up meanwhile (nothing is sent then)."""
        st = self.server.state
        t0 = time.time()
        counted = gone = False
        while True:
            with st.lock:
                now = time.time()
                st.hangs = [h for h in st.hangs if h["until"] > now]
                if not any(self.path.startswith(h["path_prefix"])
                           for h in st.hangs):
                    break
                if not counted:
                    st.hanging += 1
                    counted = True
                st.lock.wait(0.05)
            if self.client_gone():
                gone = True
                break
        if counted:
            with st.lock:
                st.hanging -= 1
                st.hung.append((self.path, round(time.time() - t0, 3),
                                gone))
        if gone:
            self.close_connection = True
        return not gone

    def client_gone(self):
        """The client closed its end (its timeout) while we held it."""
        if isinstance(self.connection, ssl.SSLSocket):
            return False
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            return bool(r) and \
                self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        if auth != "Bearer " + self.server.state.token:
            self.send(401, error_body("unauthorized",
                                      "missing or invalid bearer token"))
            return False
        return True

    # ------------------------------------------------------------ API

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        st = self.server.state
        if u.path == "/_fake/state":
            with st.lock:
                body = json.dumps({
                    "revision": st.revision, "requests": st.requests,
                    "pushed": st.pushed, "attempts": st.attempts,
                    "committed": st.committed, "hung": st.hung,
                    "hanging": st.hanging,
                    "spaces": len(st.spaces),
                    "identities": len(st.identities)})
            return self.send(200, body)
        if not self.hang() or not self.authorized() or self.fault():
            return
        try:
            limit = int(q.get("limit", "1000"))
            if not 1 <= limit <= 5000:
                raise ValueError
        except ValueError:
            return self.send(400, error_body("invalid_limit",
                                             "limit must be 1..5000"))
        if u.path == API + "/snapshot":
            return self.snapshot(q, limit)
        if u.path == API + "/changes":
            return self.changes(q, limit)
        self.send(404, error_body("not_found", "no such endpoint"))

    def snapshot(self, q, limit):
        st = self.server.state
        cursor = q.get("cursor")
        with st.lock:
            if cursor is None:
                sid = os.urandom(8).hex()
                objs = [("spaces", o) for o in st.spaces.values()] + \
                       [("identities", o) for o in st.identities.values()]
                objs = [(k, o, st.ser.get(o["id"]) or json.dumps(o))
                        for k, o in objs]
                st.snapshots[sid] = (st.revision, objs)
                off = 0
            else:
                try:
                    sid, off = cursor.split(":")
                    off = int(off)
                except ValueError:
                    return self.send(400, error_body("invalid_cursor",
                                                     "malformed cursor"))
                if sid not in st.snapshots:
                    return self.send(410, error_body(
                        "cursor_expired", "snapshot cursor expired"))
            rev, objs = st.snapshots[sid]
        page = objs[off:off + limit]
        nxt = off + limit
        cursor = "%s:%d" % (sid, nxt) if nxt < len(objs) else None
        if cursor is None:
            with st.lock:
                st.snapshots.pop(sid, None)
        body = '{"revision": %d, "spaces": [%s], "identities": [%s], ' \
               '"data_keys": %s, "next_cursor": %s}' % (
                   rev, ",".join(j for k, o, j in page if k == "spaces"),
                   ",".join(j for k, o, j in page if k == "identities"),
                   json.dumps(data_keys(st.sealer, [
                       o for k, o, j in page if k == "identities"])),
                   json.dumps(cursor))
        self.send(200, body, {"ETag": '"%d"' % rev})

    def changes(self, q, limit):
        st = self.server.state
        try:
            since = int(q["since"])
            wait = min(int(q.get("wait", "0")), 60)
        except (KeyError, ValueError):
            return self.send(400, error_body("invalid_since",
                                             "since must be a revision"))
        deadline = time.time() + wait
        with st.lock:
            if since < st.log_floor or since > st.revision:
                return self.send(410, error_body(
                    "revision_expired", "revision %d is not in the change "
                    "log (floor %d, head %d): fetch a snapshot"
                    % (since, st.log_floor, st.revision)))
            while st.revision <= since and time.time() < deadline:
                st.lock.wait(max(0.0, deadline - time.time()))
            head = st.revision
            inm = self.headers.get("If-None-Match")
            if head <= since:
                if inm == '"%d"' % since:
                    return self.send(304, None, {"ETag": '"%d"' % head})
                return self.send(200, json.dumps({
                    "revision": head, "changes": [], "has_more": False}),
                    {"ETag": '"%d"' % head})
            entries = [e for e in st.log if e[0] > since]
        page = entries[:limit]
        more = len(entries) > limit
        rev = page[-1][0] if more else head
        body = {"revision": rev, "has_more": more, "changes": [
            dict({"revision": r, "type": t, "op": op, "id": i},
                 **({"object": o} if op == "upsert" else {}))
            for r, t, op, i, o in page],
            "data_keys": data_keys(st.sealer, [e[4] for e in page
                                               if e[1] == "identity"])}
        self.send(200, json.dumps(body), {"ETag": '"%d"' % rev})

    def push(self, kind, body):
        st = self.server.state
        key = self.headers.get("Idempotency-Key")
        if not key:
            return self.send(400, error_body("idempotency_key_required",
                                             "Idempotency-Key is required"))
        try:
            doc = json.loads(body)
            field = {"usage": "spaces", "key-usage": "keys",
                     "audit": "events"}[kind]
            items = doc[field]
            if not isinstance(items, list):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return self.send(400, error_body("invalid_body",
                                             "malformed %s body" % kind))
        with st.lock:
            dup = key in st.idem
            if not dup:
                st.pushed[kind].append(doc)
                st.idem[key] = 1
            st.attempts.append({"kind": kind, "key": key, "n": len(items),
                                "status": 200, "duplicate": dup})
        self.send(200, json.dumps({"accepted": len(items)}))

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        st = self.server.state
        body = self.read_body()
        if u.path.startswith("/_fake/"):
            return self.control(u.path[len("/_fake/"):], body)
        kind = None
        for k in ("usage", "key-usage", "audit"):
            if u.path == API + "/" + k:
                kind = k
        if not self.hang() or not self.authorized():
            return
        status = self.fault()
        if status:
            if kind:
                with st.lock:
                    st.attempts.append({
                        "kind": kind, "n": None, "duplicate": None,
                        "key": self.headers.get("Idempotency-Key"),
                        "status": status})
            return
        if kind:
            return self.push(kind, body)
        self.send(404, error_body("not_found", "no such endpoint"))

    # ------------------------------------------------------------ control

    def control(self, what, body):
        """Test-only: POST /_fake/space {space}, /_fake/identity {identity
        with secret_plain[, previous_secret_plain]}, /_fake/delete {type,
        id}, /_fake/fail {path_prefix, status, count, delay, body},
        /_fake/hang {path_prefix, seconds} (no answer on those paths
        until then), /_fake/release (every hang ends now),
        /_fake/compact (drop the change log: older revisions get 410),
        /_fake/bulk {spaces, identities, tenant} (benchmark data)."""
        st = self.server.state
        doc = json.loads(body or b"{}")
        if what == "space":
            rev = st.change("space", "upsert", doc["id"], doc)
        elif what == "identity":
            obj = st.identity_object(doc)
            rev = st.change("identity", "upsert", obj["id"], obj)
        elif what == "delete":
            rev = st.change(doc["type"], "delete", doc["id"], None)
        elif what == "fail":
            with st.lock:
                st.faults.append(dict(doc, count=doc.get("count", 1)))
            rev = st.revision
        elif what == "hang":
            with st.lock:
                st.hangs.append({"path_prefix": doc["path_prefix"],
                                 "until": time.time() + doc["seconds"]})
            rev = st.revision
        elif what == "release":
            with st.lock:
                st.hangs = []
                st.lock.notify_all()
            rev = st.revision
        elif what == "compact":
            with st.lock:
                st.log = []
                st.log_floor = st.revision
            rev = st.revision
        elif what == "bulk":
            rev = self.bulk(doc)
        else:
            return self.send(404, error_body("not_found", what))
        self.send(200, json.dumps({"revision": rev,
                                   "committed_at": time.time()}))

    def bulk(self, doc):
        st = self.server.state
        tenant = doc.get("tenant", "bench")
        nsp, nid = doc["spaces"], doc["identities"]
        b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        with st.lock:
            st.revision += 1
            for i in range(nsp):
                sid = "sp_%016x" % (0xb000000000000000 + i)
                st.spaces[sid] = {
                    "id": sid, "tenant_id": tenant, "name": "s%d" % i,
                    "purpose": "generic", "visibility": "private",
                    "quota_bytes": 0, "status": "active"}
                st.ser[sid] = json.dumps(st.spaces[sid])
            for j in range(nid):
                kid = "key_%016x" % (0xb000000000000000 + j)
                n = j
                ak = "RS3"
                for _ in range(17):
                    ak += b32[n % 32]
                    n //= 32
                st.identities[kid] = {
                    "id": kid, "access_key_id": ak,
                    "space_id": "sp_%016x" % (0xb000000000000000 + j % nsp),
                    "name": "k%d" % j, "permissions": "read-write",
                    "prefix": "", "immutable": False, "status": "active",
                    "expires_at": None,
                    "secret": st.sealer.seal(
                        "S%039d" % j, ak)}
                st.ser[kid] = json.dumps(st.identities[kid])
            st.log = []
            st.log_floor = st.revision
            st.committed[st.revision] = time.time()
            st.lock.notify_all()
            return st.revision


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that gave up (its timeout) is part of the tests."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError,
                                              ConnectionResetError)):
            super().handle_error(request, client_address)


def main(argv):
    if len(argv) not in (4, 7) or (len(argv) == 7 and argv[4] != "--tls"):
        sys.stderr.write(__doc__)
        return 2
    port, token = int(argv[1]), argv[2]
    with open(argv[3], "rb") as f:
        sealer = Sealer(f.read())
    srv = Server(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    srv.state = State(token, sealer)
    if len(argv) == 7:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(argv[5], argv[6])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("ready %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
