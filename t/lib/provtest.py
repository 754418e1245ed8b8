"""Helpers for the provisioner's RustShare tests (t/11x) and benchmarks.

    import prov, provtest
    p = prov.Provisioner(st)                       # t/lib/prov.py
    fake = provtest.FakeRustShare(token, pubkey_pem_path)
    provtest.rustshare_config(p, fake.url, token_file, handover_key)
    fake.post("identity", {...}); fake.state(); fake.stop()

The fake RustShare is provisioner/test/fake_rustshare.py: RustShare is not
available here, so the fake follows docs/rustshare-api.md.
"""

import atexit
import json
import os
import subprocess
import sys
import urllib.request

import prov
import stack

FAKE = os.path.join(stack.ROOT, "provisioner", "test", "fake_rustshare.py")


def rustshare_config(p, url, token_file, handover_key, path=None, **extra):
    """Writes p's config plus source = rustshare (to path, default p.conf);
    returns the path."""
    with open(p.conf) as f:
        text = f.read()
    keys = dict(source="rustshare", rustshare_url=url,
                rustshare_token_file=token_file,
                rustshare_handover_key=handover_key)
    keys.update(extra)
    lines = [l for l in text.splitlines()
             if l.split("=", 1)[0].strip() not in keys]
    lines += ["%s = %s" % (k, v) for k, v in keys.items()]
    path = path or p.conf
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def bearer_token(st):
    """A fresh bearer token in {st.dir}/rustshare.token (mode 0600);
    returns (token, path)."""
    token = "tok-" + os.urandom(12).hex()
    path = os.path.join(st.dir, "rustshare.token")
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token, path


def redis_dump(R, skip=()):
    """Every hash, set and string in Redis, sorted, except keys starting
    with one of skip: to compare before and after a refused sync."""
    out = []
    for k in sorted(R.scan_iter(count=1000)):
        if k.startswith(tuple(skip)):
            continue
        t = R.type(k)
        if t == "hash":
            out.append((k, sorted(R.hgetall(k).items())))
        elif t == "set":
            out.append((k, sorted(R.smembers(k))))
        elif t == "string":
            out.append((k, R.get(k)))
    return out


def keygen(p, path):
    """`handover keygen` into path; returns (public PEM path, kid)."""
    r = p.cli("handover", "keygen", path)
    if r.returncode != 0 or not r.json:
        raise RuntimeError("handover keygen failed: " + r.stderr)
    pub = path + ".pub"
    with open(pub, "w") as f:
        f.write(r.json["public_key_pem"])
    return pub, r.json["kid"]


class FakeRustShare:
    """The fake RustShare on a free port (TLS if tls=(cert, key))."""

    def __init__(self, token, pubkey, tls=None):
        self.port = stack.free_port()
        argv = [sys.executable, FAKE, str(self.port), token, pubkey]
        if tls:
            argv += ["--tls", tls[0], tls[1]]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        atexit.register(self.stop)
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError("fake RustShare did not start")
        scheme = "https" if tls else "http"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)
        self.control = "http://127.0.0.1:%d" % self.port
        self.tls = tls

    def _req(self, method, path, doc=None):
        import ssl
        data = json.dumps(doc).encode() if doc is not None else None
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method)
        ctx = None
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.tls[0])
        with urllib.request.urlopen(req, timeout=60, context=ctx) as r:
            return json.loads(r.read())

    def post(self, what, doc=None):
        """POST /_fake/{what} (space, identity, delete, fail, compact,
        bulk); returns {"revision", "committed_at"}."""
        return self._req("POST", "/_fake/" + what, doc or {})

    def state(self):
        return self._req("GET", "/_fake/state")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
