"""Run the real objspace-provisioner CLI against a test stack.

    p = prov.Provisioner(st)              # config for st's redis + RGW
    r = p.cli("space", "create", "--tenant", "tn_a", "--name", "site")
    r.json                                # parsed --json output (or None)

The binary is $OBJSPACE_PROVISIONER or build/objspace-provisioner (built
with `make provisioner` if missing). Its configuration (docs/provisioner.md)
points at the stack's redis, key file and RGW admin user.
"""

import json
import re
import os
import subprocess

import seed
import stack

BIN = os.environ.get("OBJSPACE_PROVISIONER",
                     os.path.join(stack.BUILD, "objspace-provisioner"))


def available():
    """Path of the binary, building it if needed; None if it cannot be."""
    if not os.access(BIN, os.X_OK):
        subprocess.run(["make", "-s", "-C", stack.ROOT, "provisioner"],
                       capture_output=True, text=True)
    return BIN if os.access(BIN, os.X_OK) else None


class Provisioner:
    def __init__(self, st, endpoint=None):
        self.st = st
        creds = os.path.join(st.dir, "storage.creds")
        fd = os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("access_key = %s\nsecret_key = %s\n"
                    % (st.rgw_env["RGW_ADMIN_ACCESS_KEY"],
                       st.rgw_env["RGW_ADMIN_SECRET_KEY"]))
        self.conf = os.path.join(st.dir, "provisioner.conf")
        with open(self.conf, "w") as f:
            f.write("redis = %s\nkey_file = %s\nregion = %s\nendpoint = %s\n"
                    "storage = rgw\nstorage_endpoint = %s\n"
                    "storage_credentials_file = %s\n"
                    "bucket_pattern = t-{tenant}-{name}\n"
                    % (st.redis_addr, st.key_file, st.region,
                       endpoint or st.endpoint or "http://127.0.0.1:1",
                       st.rgw_endpoint, creds))

    def cli(self, *args, json_out=True, timeout=120):
        """Run one command; returns CompletedProcess with .json set."""
        argv = [BIN, "--config", self.conf] + (["--json"] if json_out
                                               else []) + list(args)
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=timeout)
        r.json = None
        for sk in re.findall(r'"(?:secret_access_key|secret_key)"\s*:\s*"'
                             r'([^"]+)"', r.stdout):
            seed.record_secret(sk)
        for sk in re.findall(r"Secret Key:\s*(\S+)", r.stdout):
            seed.record_secret(sk)
        if json_out and r.stdout.strip():
            try:
                r.json = json.loads(r.stdout)
            except ValueError:
                pass
        return r
