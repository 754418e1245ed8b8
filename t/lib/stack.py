"""The test stack: redis-server + Ceph RGW + nginx with the module.

    import stack, tap
    st = stack.Stack()                 # state in build/t/<test name>/
    st.start()                         # redis, RGW, secret key, nginx
    sp = st.seed_space()               # backend bucket + user on RGW
    k = st.seed_key(sp, "read-write-delete", prefix="")
    s3 = st.boto3_client(k["ak"], k["sk"], style="path")
    ...
    tap.ok(not st.alerts(), "no [alert] in the error log")
    st.stop()                          # also runs at exit

RGW: if OBJSPACE_T_RGW_ENV names the env file of a running tools/rgw-stack
(`make test` starts one for the whole run), it is shared; otherwise the
stack starts its own under build/t/<test>/rgw. Redis and nginx are always
per test file. Every process binds 127.0.0.1 on a free port and is stopped
by pid.
"""

import atexit
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import clients
import seed

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, "build")
TOOLS = os.path.join(ROOT, "tools")
# OBJSPACE_NGINX / OBJSPACE_MODULE: another nginx binary and the module
# built with it (make test-asan: tools/asan-build's pair)
MODULE = os.environ.get("OBJSPACE_MODULE",
                        os.path.join(BUILD, "ngx_http_objspace_module.so"))
NGINX = os.environ.get("OBJSPACE_NGINX", "/usr/sbin/nginx")
REGION = clients.REGION
HOST_SUFFIX = clients.HOST_SUFFIX
AWS_V2 = "/usr/bin/aws"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read_env(path):
    env = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    env[k] = v.strip("'\"")
    except FileNotFoundError:
        pass
    return env


def pid_alive(pid):
    try:
        os.kill(int(pid), 0)
        with open("/proc/%d/stat" % int(pid)) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (OSError, ValueError):
        return False


# The http{} block every config uses (docs/TEAM-NOTES.md); {extra_http},
# {extra_server} and {extra_location} let a test add directives.
NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
{load_module}
events {{
    worker_connections 1024;
}}

http {{
    # the recommended key-free format (docs/variables.md): never $request
    log_format objspace_t '$remote_addr [$time_local] $request_method '
                          '$objspace_bucket $objspace_operation $status '
                          '$bytes_sent $request_length $objspace_identity '
                          '$objspace_space $objspace_decision '
                          '$objspace_deny_reason $request_id';
    access_log {prefix}/access.log objspace_t;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path       {prefix}/tmp/proxy;
    fastcgi_temp_path     {prefix}/tmp/fastcgi;
    uwsgi_temp_path       {prefix}/tmp/uwsgi;
    scgi_temp_path        {prefix}/tmp/scgi;

    objspace_redis            {redis};
    objspace_secret_key_file  {key_file};
    objspace_cache_zone       objspace:16m;
{extra_http}
    upstream objspace_backend {{
        server {rgw_hostport};
        keepalive 32;
    }}

    server {{
        listen 127.0.0.1:{port};
        objspace_region       {region};
        objspace_host_suffix  {host_suffix};      # virtual-host style
{extra_server}
        location / {{
            objspace_gateway       on;
            objspace_backend_host  {rgw_hostport};

            client_max_body_size     0;
            proxy_request_buffering  off;
            proxy_http_version       1.1;
            proxy_set_header Connection      "";
            proxy_set_header Host            $objspace_backend_host;
            proxy_set_header Content-Length  $objspace_upstream_content_length;
            proxy_pass http://objspace_backend$objspace_upstream_uri;
{extra_location}
        }}
    }}
}}
"""


# OBJSPACE_T_PASSTHROUGH=1: nginx is a plain proxy in front of RGW and
# seed_key() hands out the space's backend key, so the client tests can be
# checked against RGW itself (harness self-test; not what `make test` runs).
PASSTHROUGH = os.environ.get("OBJSPACE_T_PASSTHROUGH") == "1"
PASSTHROUGH_CONF = """\
daemon off;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path       {prefix}/tmp/proxy;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            client_max_body_size     0;
            proxy_request_buffering  off;
            proxy_buffering          off;
            proxy_http_version       1.1;
            proxy_set_header Host $http_host;
            proxy_pass http://{rgw_hostport};
        }}
    }}
}}
"""


class StackError(Exception):
    pass


class Stack:
    def __init__(self, name=None, workers=2, dir=None, keep=False):
        """keep=True: leave everything running at exit (the demo)."""
        if name is None:
            name = os.path.basename(sys.argv[0])
            name = re.sub(r"\.t$", "", name)
        self.name = name
        self.dir = dir or os.path.join(BUILD, "t", name)
        self.workers = workers
        self.region = REGION
        self.host_suffix = HOST_SUFFIX
        self.nginx_proc = None
        self.port = None
        self.redis_env = {}
        self.rgw_env = {}
        self.own_rgw = False
        self.seeder = None
        self._stopped = False
        self.key_file = os.path.join(self.dir, "secret.key")
        if not keep:
            atexit.register(self.stop)

    # ------------------------------------------------------------ start

    def start(self, nginx=True, shared_rgw=True, **conf_kw):
        """Start redis, RGW (or reuse the shared one), the key file and,
        unless nginx=False, nginx with the standard config."""
        if os.path.isdir(self.dir):
            self._stop_leftovers()
            shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.start_redis()
        self.start_rgw(shared_ok=shared_rgw)
        seed.write_key_file(self.key_file)
        self.seeder = seed.Seeder(self.redis_addr, self.rgw_endpoint,
                                  self.rgw_env["RGW_ADMIN_ACCESS_KEY"],
                                  self.rgw_env["RGW_ADMIN_SECRET_KEY"],
                                  self.key_file, self.region)
        if nginx:
            self.start_nginx(**conf_kw)
        return self

    def stop_recorded(self):
        """Stop what a previous run recorded under self.dir (by pid)."""
        self._stop_leftovers()

    def _stop_leftovers(self):
        """A previous run of this test that died: stop what it left."""
        pids = set()
        env = read_env(os.path.join(self.dir, "nginx", "env"))
        if env.get("NGINX_PID"):
            pids.add(env["NGINX_PID"])
        try:
            with open(os.path.join(self.dir, "nginx", "nginx.pid")) as f:
                pids.add(f.read().strip())
        except OSError:
            pass
        for pid in pids:
            if _is_nginx(pid):
                os.kill(int(pid), signal.SIGTERM)
        deadline = time.time() + 10
        while time.time() < deadline and any(_is_nginx(p) for p in pids):
            time.sleep(0.05)
        subprocess.run([os.path.join(TOOLS, "redis-stack"), "stop",
                        os.path.join(self.dir, "redis")],
                       capture_output=True)
        if os.path.exists(os.path.join(self.dir, "rgw", "env")):
            subprocess.run([os.path.join(TOOLS, "rgw-stack"), "stop",
                            os.path.join(self.dir, "rgw")],
                           capture_output=True)

    def _tool(self, tool, action, d):
        r = subprocess.run([os.path.join(TOOLS, tool), action, d],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise StackError("%s %s failed: %s%s" % (tool, action, r.stdout,
                                                      r.stderr))
        return r

    def start_redis(self):
        d = os.path.join(self.dir, "redis")
        self._tool("redis-stack", "start", d)
        self.redis_env = read_env(os.path.join(d, "env"))
        self.redis_addr = self.redis_env["REDIS_ADDR"]
        self.redis_port = int(self.redis_env["REDIS_PORT"])

    def stop_redis(self):
        self._tool("redis-stack", "stop", os.path.join(self.dir, "redis"))

    def restart_redis(self):
        """Stop redis and start a fresh, empty one on the same port (what
        nginx's objspace_redis names); returns its pid."""
        self.stop_redis()
        os.environ["REDIS_STACK_PORT"] = str(self.redis_port)
        try:
            self.start_redis()
        finally:
            del os.environ["REDIS_STACK_PORT"]
        return int(self.redis_env["REDIS_PID"])

    def start_rgw(self, shared_ok=True):
        shared = os.environ.get("OBJSPACE_T_RGW_ENV") if shared_ok else None
        env = read_env(shared) if shared else {}
        if env and all(pid_alive(env.get(k, 0)) for k in
                       ("RGW_MON_PID", "RGW_OSD_PID", "RGW_RGW_PID")):
            self.rgw_env = env
        else:
            d = os.path.join(self.dir, "rgw")
            self._tool("rgw-stack", "start", d)
            self.rgw_env = read_env(os.path.join(d, "env"))
            self.own_rgw = True
        self.rgw_endpoint = self.rgw_env["RGW_ENDPOINT"]
        self.rgw_hostport = self.rgw_endpoint.split("://", 1)[1]

    # ------------------------------------------------------------ nginx

    def nginx_conf(self, port=None, redis=None, load_module=True,
                   extra_http="", extra_server="", extra_location="",
                   workers=None, template=None):
        """The standard config text (docs/TEAM-NOTES.md) for this stack."""
        prefix = os.path.join(self.dir, "nginx")
        lm = "load_module %s;" % MODULE if load_module else ""
        return (template or NGINX_CONF).format(
            workers=workers or self.workers, prefix=prefix, load_module=lm,
            redis=redis or self.redis_addr, key_file=self.key_file,
            rgw_hostport=self.rgw_hostport, port=port or self.port or 1,
            region=self.region, host_suffix=self.host_suffix,
            extra_http=_indent(extra_http, 4),
            extra_server=_indent(extra_server, 8),
            extra_location=_indent(extra_location, 12))

    def _prepare_prefix(self):
        prefix = os.path.join(self.dir, "nginx")
        for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi",
                    "tmp/scgi", "logs"):
            os.makedirs(os.path.join(prefix, sub), exist_ok=True)
        # workers run as nobody: they write proxy/body temp files
        subprocess.run(["chown", "-R", "nobody:nogroup",
                        os.path.join(prefix, "tmp")], check=False)
        return prefix

    def nginx_test(self, conf_text, name="test"):
        """`nginx -t` on conf_text; returns (exit status, combined output)."""
        prefix = self._prepare_prefix()
        path = os.path.join(prefix, "%s.conf" % name)
        with open(path, "w") as f:
            f.write(conf_text)
        r = subprocess.run([NGINX, "-t", "-q", "-p", prefix, "-c", path,
                            "-e", os.path.join(prefix, "%s-t.log" % name)],
                           capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr

    def start_nginx(self, conf_text=None, **conf_kw):
        """Start nginx (master + workers, daemon off, pid by Popen) and
        wait until it accepts connections."""
        if self.nginx_proc is not None:
            self.stop_nginx()
        if PASSTHROUGH and conf_text is None:
            conf_kw["template"] = PASSTHROUGH_CONF
        elif not os.path.exists(MODULE):
            raise StackError("%s not built (run make)" % MODULE)
        prefix = self._prepare_prefix()
        self.port = conf_kw.pop("port", None) or free_port()
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(conf_text or self.nginx_conf(port=self.port, **conf_kw))
        self.error_log = os.path.join(prefix, "error.log")
        out = open(os.path.join(prefix, "stderr.log"), "ab")
        self.nginx_proc = subprocess.Popen(
            [NGINX, "-p", prefix, "-c", conf, "-e", self.error_log],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
        out.close()
        with open(os.path.join(prefix, "env"), "w") as f:
            f.write("NGINX_PID=%d\nNGINX_PORT=%d\n"
                    % (self.nginx_proc.pid, self.port))
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.nginx_proc.poll() is not None:
                raise StackError("nginx exited with %s:\n%s" % (
                    self.nginx_proc.returncode, self._tail(prefix)))
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise StackError("nginx did not listen:\n" + self._tail(prefix))
        self.endpoint = "http://127.0.0.1:%d" % self.port
        return self.endpoint

    def nginx_workers(self):
        """Pids of the running nginx's worker processes."""
        return child_pids(self.nginx_proc.pid)

    def reload_nginx(self):
        self.nginx_proc.send_signal(signal.SIGHUP)
        time.sleep(1)

    def _tail(self, prefix, n=20):
        out = []
        for f in ("stderr.log", "error.log"):
            try:
                with open(os.path.join(prefix, f), errors="replace") as fh:
                    out += fh.read().splitlines()[-n:]
            except OSError:
                pass
        return "\n".join(out)

    def stop_nginx(self):
        p = self.nginx_proc
        if p is None:
            return
        self.nginx_proc = None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    # ------------------------------------------------------------ logs

    def error_log_lines(self, level=None):
        """Lines of nginx's error log (optionally only `[level]` ones)."""
        try:
            with open(self.error_log, errors="replace") as f:
                lines = f.read().splitlines()
        except (OSError, AttributeError):
            return []
        if level:
            lines = [l for l in lines if "[%s]" % level in l]
        return lines

    def alerts(self):
        """[alert] and [emerg] lines (which no test expects)."""
        return [l for l in self.error_log_lines()
                if "[alert]" in l or "[emerg]" in l or "[crit]" in l]

    def log_mark(self):
        """Position in the error log, for error_log_since()."""
        try:
            return os.path.getsize(self.error_log)
        except (OSError, AttributeError):
            return 0

    def error_log_since(self, mark):
        try:
            with open(self.error_log, "rb") as f:
                f.seek(mark)
                return f.read().decode(errors="replace").splitlines()
        except (OSError, AttributeError):
            return []

    # ------------------------------------------------------------ seeding

    def unique_bucket(self, stem=None):
        stem = re.sub(r"[^a-z0-9-]", "-", (stem or self.name).lower())
        return ("t-%s-%s" % (stem, secrets.token_hex(3)))[:63].strip("-")

    def seed_space(self, bucket=None, **kw):
        """Backend bucket + backend user/key on RGW and the Redis records
        (seed.Seeder.space). Returns the space dict (incl. backend_sk)."""
        return self.seeder.space(bucket or self.unique_bucket(), **kw)

    def seed_key(self, space, mode="read-write-delete", prefix="", **kw):
        """An identity in `space` (seed.Seeder.identity); returns a dict
        with ak, sk, id, bucket, mode, prefix, ..."""
        ident = self.seeder.identity(space, mode=mode, prefix=prefix, **kw)
        if PASSTHROUGH:
            ident = dict(ident, ak=space["backend_ak"],
                         sk=space["backend_sk"])
        return ident

    # ------------------------------------------------------------ clients

    def boto3_client(self, ak, sk, style="path", **config):
        """config may hold verify= (CA bundle) for an https endpoint."""
        return clients.boto3_client(self.endpoint, ak, sk, style=style,
                                    region=self.region,
                                    host_suffix=self.host_suffix, **config)

    def rgw_client(self, space):
        """boto3 straight to RGW with the space's backend key: to check
        what was (not) stored, bypassing the gateway."""
        return clients.boto3_client(self.rgw_endpoint, space["backend_ak"],
                                    space["backend_sk"], style="path",
                                    region=self.region)

    def rgw_keys(self, space, prefix=""):
        """Keys stored in the space's bucket, read straight from RGW."""
        c = self.rgw_client(space)
        keys = []
        for page in c.get_paginator("list_objects_v2").paginate(
                Bucket=space["bucket"], Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def rgw_digest(self, space, key):
        """(size, sha256 hex) of an object read straight from RGW with the
        space's backend key, streamed."""
        body = self.rgw_client(space).get_object(Bucket=space["bucket"],
                                                 Key=key)["Body"]
        h, n = hashlib.sha256(), 0
        for piece in body.iter_chunks(1024 * 1024):
            h.update(piece)
            n += len(piece)
        return n, h.hexdigest()

    def rgw_uploads(self, space):
        """Multipart uploads in progress in the space's bucket (RGW)."""
        r = self.rgw_client(space).list_multipart_uploads(
            Bucket=space["bucket"])
        return [u["Key"] for u in r.get("Uploads", [])]

    def client_env(self, ak, sk, home=None):
        """Environment for CLI clients: credentials, region, no CA bundle
        (AWS_CA_BUNDLE breaks rclone and docker-registry), no user config,
        retries off."""
        env = dict(os.environ)
        for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN",
                  "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE",
                  "AWS_SHARED_CREDENTIALS_FILE"):
            env.pop(k, None)
        home = home or os.path.join(self.dir, "home")
        os.makedirs(home, exist_ok=True)
        env.update(AWS_ACCESS_KEY_ID=ak, AWS_SECRET_ACCESS_KEY=sk,
                   AWS_DEFAULT_REGION=self.region, AWS_REGION=self.region,
                   AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard",
                   AWS_PAGER="", HOME=home,
                   AWS_CONFIG_FILE=os.path.join(home, "aws-config"),
                   AWS_SHARED_CREDENTIALS_FILE=os.path.join(home, "aws-cred"))
        return env

    def awscli(self, version):
        """Path of the aws cli: 'v2' = Debian's, 'v1' = pyenv's (or None)."""
        if version == "v2":
            return AWS_V2 if os.path.exists(AWS_V2) else None
        return clients.pyenv_awscli_v1()

    def run_awscli(self, version, args, ak, sk, timeout=600, input=None,
                   path_style=True, endpoint=None):
        """Run `aws --endpoint-url GATEWAY ARGS...` with the given key;
        returns CompletedProcess (text)."""
        aws = self.awscli(version)
        if aws is None:
            raise StackError("aws cli %s not available" % version)
        env = self.client_env(ak, sk)
        with open(env["AWS_CONFIG_FILE"], "w") as f:
            f.write("[default]\nregion = %s\n" % self.region)
            # s3v4: aws cli v1 presigns with SigV2 otherwise
            f.write("s3 =\n    signature_version = s3v4\n")
            if path_style:
                f.write("    addressing_style = path\n")
        env["PATH"] = os.path.dirname(aws) + ":" + env.get("PATH", "")
        return subprocess.run([aws, "--endpoint-url",
                               endpoint or self.endpoint] + list(args),
                              env=env, capture_output=True, text=True,
                              timeout=timeout, input=input,
                              stdin=None if input is not None
                              else subprocess.DEVNULL)

    def s3cmd_config(self, ak, sk, path=None):
        """Write an s3cmd config for the gateway (path style, SigV4)."""
        path = path or os.path.join(self.dir, "s3cmd.cfg")
        hp = "127.0.0.1:%d" % self.port
        with open(path, "w") as f:
            f.write("[default]\naccess_key = %s\nsecret_key = %s\n"
                    "host_base = %s\nhost_bucket = %s\nuse_https = False\n"
                    "signature_v2 = False\nbucket_location = %s\n"
                    "check_ssl_certificate = False\nguess_mime_type = False\n"
                    "multipart_chunk_size_mb = 5\n"
                    % (ak, sk, hp, hp, self.region))
        return path

    def rclone_config(self, ak, sk, remote="gw", path=None):
        """Write an rclone config with one S3 remote for the gateway."""
        path = path or os.path.join(self.dir, "rclone.conf")
        with open(path, "w") as f:
            f.write("[%s]\ntype = s3\nprovider = Other\naccess_key_id = %s\n"
                    "secret_access_key = %s\nregion = %s\nendpoint = %s\n"
                    "force_path_style = true\nv2_auth = false\n"
                    "no_check_bucket = true\n"
                    % (remote, ak, sk, self.region, self.endpoint))
        return path

    def http(self, method, url, headers=None, body=None, timeout=60):
        """Plain HTTP request; returns (status, headers dict, body bytes)."""
        url, host = clients.virtual_host_url(url, self.port)
        h = dict(headers or {})
        if host and not any(k.lower() == "host" for k in h):
            h["Host"] = host
        req = urllib.request.Request(url, data=body, method=method,
                                     headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    # ------------------------------------------------------------ stop

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        try:
            self.stop_nginx()
        except Exception:
            pass
        subprocess.run([os.path.join(TOOLS, "redis-stack"), "stop",
                        os.path.join(self.dir, "redis")],
                       capture_output=True)
        if self.own_rgw:
            subprocess.run([os.path.join(TOOLS, "rgw-stack"), "stop",
                            os.path.join(self.dir, "rgw")],
                           capture_output=True)


def child_pids(parent):
    """Pids of the live processes whose parent is `parent`."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(st[1]) == int(parent) and st[0] != "Z":
            pids.append(int(d))
    return sorted(pids)


def proc_status(pid, fields=("VmRSS", "VmHWM")):
    """Fields of /proc/PID/status in KiB: {"VmRSS": n, "VmHWM": n}."""
    out = {}
    with open("/proc/%d/status" % int(pid)) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in fields:
                out[k] = int(v.split()[0])
    return out


class RSSWatch:
    """Peak VmRSS of processes while a block runs, sampled every
    `interval` s in a thread:

        with stack.RSSWatch(st.nginx_workers()) as w:
            upload()
        w.growth        # KiB: max over the pids of peak - VmRSS at entry
    """

    def __init__(self, pids, interval=0.02):
        self.pids = list(pids)
        self.interval = interval
        self.base = {}
        self.peak = {}
        self._done = threading.Event()
        self._thread = None

    def _rss(self, pid):
        try:
            return proc_status(pid)["VmRSS"]
        except (OSError, KeyError):
            return 0

    def _sample(self):
        while not self._done.is_set():
            for p in self.pids:
                self.peak[p] = max(self.peak[p], self._rss(p))
            time.sleep(self.interval)

    def __enter__(self):
        self.base = {p: self._rss(p) for p in self.pids}
        self.peak = dict(self.base)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        for p in self.pids:
            self.peak[p] = max(self.peak[p], self._rss(p))
        return False

    @property
    def growth(self):
        return max([self.peak[p] - self.base[p] for p in self.pids] or [0])

    @property
    def busiest(self):
        """The pid that grew most."""
        return max(self.pids, key=lambda p: self.peak[p] - self.base[p])


def _is_nginx(pid):
    """pid is a live nginx process (guards against a recycled pid)."""
    try:
        with open("/proc/%d/cmdline" % int(pid), "rb") as f:
            return b"nginx" in f.read() and pid_alive(pid)
    except (OSError, ValueError):
        return False


def _indent(text, n):
    if not text:
        return ""
    return "\n".join((" " * n + l) if l.strip() else l
                     for l in text.strip("\n").splitlines()) + "\n"


def s3_error_code(body):
    """<Code> of an S3 XML error body (bytes or str), or None."""
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    m = re.search(r"<Code>([^<]*)</Code>", body or "")
    return m.group(1) if m else None


def start_or_fail(st, **kw):
    """Start the stack; on failure report one failing test and exit."""
    import tap
    try:
        st.start(**kw)
        return True
    except Exception as e:
        tap.fail("stack starts", str(e))
        tap.done_testing()
        return False
