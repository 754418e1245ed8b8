"""Seeding for tests: Object Spaces and identities written directly, as
the provisioner (provisioner/) writes them, so a test can also craft
states the CLI refuses to make. It does exactly what docs/redis-schema.md
says:

  space: a backend user on RGW (admin REST API: PUT /admin/user) with its
         own S3 key, a backend bucket created by that user, then
         objspace:space:{id} (hash), objspace:bucket:{bucket},
         objspace:idx:spaces, and PUBLISH objspace:invalidate space:{id}
  key:   objspace:ak:{ak} (hash), objspace:idx:keys:{space},
         objspace:keyid:{id}, PUBLISH objspace:invalidate ak:{ak}

Secrets are sealed (AES-256-GCM, 0x01 || nonce || ct || tag, base64) with
the 32-byte key from the key file (64 hex chars) and the AAD the schema
names. Needs python3-redis and python3-cryptography (Debian).
"""

import base64
import json
import os
import secrets
import string
import time
import urllib.error
import urllib.parse
import urllib.request

import sigv4

MODES = ("read-only", "write-only", "read-write", "read-write-delete",
         "publisher", "registry-backend")
_AK_ALPHABET = string.ascii_uppercase + string.digits


def storage_quota(q):
    """The quota the provisioner sets on the storage for a gateway quota q:
    q + max(1%, 64 MiB), rounded up to a MiB (docs/provisioner.md, Usage);
    0 stays 0."""
    if q <= 0:
        return 0
    s = q + max(-(-q // 100), 64 << 20)
    return -(-s // (1 << 20)) * (1 << 20)


def read_key_file(path):
    with open(path) as f:
        text = f.read().strip()
    key = bytes.fromhex(text)
    if len(key) != 32:
        raise ValueError("%s: want 64 hex characters (32 bytes)" % path)
    return key


def write_key_file(path):
    """Create a fresh key file (32 random bytes as 64 hex), mode 0640."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w") as f:
        key = secrets.token_hex(32)
        f.write(key + "\n")
    record_secret(key)
    os.chmod(path, 0o640)
    return path


def seal(key, plaintext, aad):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    if isinstance(plaintext, str):
        plaintext = plaintext.encode()
    nonce = os.urandom(12)
    ct = AESGCM(key).encrypt(nonce, plaintext, aad.encode())
    return base64.b64encode(b"\x01" + nonce + ct).decode()


def unseal(key, sealed, aad):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    raw = base64.b64decode(sealed)
    if raw[:1] != b"\x01":
        raise ValueError("unknown seal version")
    return AESGCM(key).decrypt(raw[1:13], raw[13:], aad.encode()).decode()


def new_access_key(prefix="OSK"):
    return prefix + "".join(secrets.choice(_AK_ALPHABET)
                            for _ in range(20 - len(prefix)))


def record_secret(*values):
    """Remember a secret the suite created, for t/990-secrets-sweep.t: it
    greps every log, audit file, spool and Redis dump under build/t/ for
    each of them.  One file per process, so parallel tests never clash."""
    d = os.environ.get("OBJSPACE_T_SECRETS_DIR",
                       os.path.join(os.path.dirname(os.path.abspath(
                           __file__)), "..", "..", "build", "t",
                           "_secrets"))
    try:
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "%d.txt" % os.getpid()), "a") as f:
            for v in values:
                if v and len(v) >= 16:
                    f.write(v + "\n")
    except OSError:
        pass


def new_secret_key():
    # 40 characters of the base64 alphabet, '+' and '/' included on purpose
    sk = base64.b64encode(secrets.token_bytes(30)).decode()
    record_secret(sk)
    return sk


class RGWAdmin:
    """The RGW admin REST API (/admin/...) and plain S3 calls, signed with
    tests' own SigV4 code (admin calls want UNSIGNED-PAYLOAD)."""

    def __init__(self, endpoint, ak, sk, region="us-east-1"):
        self.endpoint = endpoint.rstrip("/")
        self.ak, self.sk, self.region = ak, sk, region

    def request(self, method, path, query=None, body=b"", ak=None, sk=None,
                headers=None, payload_hash=None, timeout=30):
        qs = urllib.parse.urlencode(query or {}, quote_via=urllib.parse.quote)
        url = self.endpoint + path + ("?" + qs if qs else "")
        h = sigv4.sign_headers(method, url, ak or self.ak, sk or self.sk,
                               self.region, headers=headers, body=body,
                               payload_hash=payload_hash)
        req = urllib.request.Request(url, data=body if body else None,
                                     method=method,
                                     headers=sigv4.wire_headers(h))
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def admin(self, method, what, query, body=b""):
        st, data = self.request(method, "/admin/" + what, query, body=body,
                                payload_hash=sigv4.UNSIGNED)
        if st >= 300:
            raise RuntimeError("RGW admin %s /admin/%s: %d %s"
                               % (method, what, st, data[:300]))
        return json.loads(data) if data.strip() else None

    def create_user(self, uid, ak, display=None, max_buckets=1):
        """Creates the user with an RGW-generated secret and returns it: a
        secret in the admin URL would land in RGW's request log."""
        user = self.admin("PUT", "user", {
            "uid": uid, "display-name": display or uid, "access-key": ak,
            "generate-key": "true", "key-type": "s3",
            "max-buckets": str(max_buckets), "format": "json"})
        for k in user.get("keys", []):
            if k.get("access_key") == ak:
                record_secret(k["secret_key"])
                return k["secret_key"]
        raise RuntimeError("RGW created user %s without key %s" % (uid, ak))

    def set_user_quota(self, uid, max_bytes):
        body = json.dumps({"enabled": max_bytes > 0,
                           "max_size": max_bytes if max_bytes > 0 else -1,
                           "max_objects": -1}).encode()
        return self.admin("PUT", "user", {"quota": "", "uid": uid,
                                          "quota-type": "user"}, body=body)

    def delete_user(self, uid):
        return self.admin("DELETE", "user", {"uid": uid,
                                             "purge-data": "true"})

    def create_bucket(self, bucket, ak, sk):
        st, data = self.request("PUT", "/" + bucket, ak=ak, sk=sk)
        if st != 200:
            raise RuntimeError("RGW create bucket %s: %d %s"
                               % (bucket, st, data[:300]))


class Seeder:
    def __init__(self, redis_addr, rgw_endpoint, admin_ak, admin_sk,
                 key_file, region="us-east-1", redis_db=0):
        import redis
        host, port = redis_addr.rsplit(":", 1)
        self.r = redis.Redis(host=host, port=int(port), db=redis_db,
                             decode_responses=True)
        self.rgw = RGWAdmin(rgw_endpoint, admin_ak, admin_sk, region)
        self.key = read_key_file(key_file)
        self.region = region

    def publish(self, msg):
        self.r.publish("objspace:invalidate", msg)

    def space(self, bucket, tenant="tn_demo", name=None, quota_bytes=0,
              purpose="generic", visibility="private", status="active",
              create_backend=True, storage_quota=False):
        """Create an Object Space; returns a dict incl. the backend key."""
        space_id = "sp_" + secrets.token_hex(8)
        backend_uid = "objspace-" + space_id
        backend_ak = new_access_key("OSB")
        backend_sk = new_secret_key()
        if create_backend:
            backend_sk = self.rgw.create_user(
                backend_uid, backend_ak, display="objspace space " + bucket)
            self.rgw.create_bucket(bucket, backend_ak, backend_sk)
            if storage_quota and quota_bytes:
                self.rgw.set_user_quota(backend_uid, quota_bytes)
        now = int(time.time())
        rec = {
            "v": "1", "id": space_id, "tenant": tenant,
            "name": name or bucket, "bucket": bucket, "status": status,
            "purpose": purpose, "visibility": visibility,
            "quota_bytes": str(quota_bytes), "backend_ak": backend_ak,
            "backend_secret": seal(self.key, backend_sk,
                                   "backend:" + space_id),
            "created_at": str(now),
        }
        self._write_space(rec)
        out = dict(rec)
        out.update(backend_sk=backend_sk, backend_uid=backend_uid)
        return out

    def _write_space(self, rec):
        p = self.r.pipeline()
        p.hset("objspace:space:" + rec["id"], mapping=rec)
        p.set("objspace:bucket:" + rec["bucket"], rec["id"])
        p.sadd("objspace:idx:spaces", rec["id"])
        p.execute()
        self.publish("space:" + rec["id"])

    def restore_space(self, space):
        """Write the records of a space() result again, same id and
        backend key (a Redis that lost them, e.g. restarted empty)."""
        self._write_space({k: v for k, v in space.items()
                           if k not in ("backend_sk", "backend_uid")})

    def identity(self, space, mode="read-write-delete", prefix="",
                 name="test-client", immutable=False, expires_at=0,
                 status="active", ak=None, sk=None, secret_prev=None,
                 secret_prev_until=0):
        """Create an identity for `space` (a dict from space() or a space
        id); returns a dict with ak, sk, id and the record fields."""
        if mode not in MODES:
            raise ValueError("mode must be one of %s" % ", ".join(MODES))
        if isinstance(space, str):
            space = self.r.hgetall("objspace:space:" + space)
            if not space:
                raise ValueError("no such space")
        ak = ak or new_access_key()
        sk = sk or new_secret_key()
        ident = "key_" + secrets.token_hex(8)
        rec = {
            "v": "1", "id": ident, "space": space["id"],
            "tenant": space["tenant"], "name": name, "mode": mode,
            "prefix": prefix, "immutable": "1" if immutable else "0",
            "status": status, "expires_at": str(int(expires_at)),
            "secret": seal(self.key, sk, "ak:" + ak),
            "created_at": str(int(time.time())),
        }
        if secret_prev:
            rec["secret_prev"] = seal(self.key, secret_prev, "ak-prev:" + ak)
            rec["secret_prev_until"] = str(int(secret_prev_until))
        p = self.r.pipeline()
        p.hset("objspace:ak:" + ak, mapping=rec)
        p.sadd("objspace:idx:keys:" + space["id"], ak)
        p.set("objspace:keyid:" + ident, ak)
        p.execute()
        self.publish("ak:" + ak)
        out = dict(rec)
        out.update(ak=ak, sk=sk, bucket=space["bucket"])
        return out

    def update_identity(self, ak, **fields):
        """Change fields of an identity (status, mode, prefix...)."""
        self.r.hset("objspace:ak:" + ak,
                    mapping={k: str(v) for k, v in fields.items()})
        self.publish("ak:" + ak)

    def update_space(self, space_id, **fields):
        self.r.hset("objspace:space:" + space_id,
                    mapping={k: str(v) for k, v in fields.items()})
        self.publish("space:" + space_id)
