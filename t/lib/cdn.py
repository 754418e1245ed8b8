"""The public web/CDN frontend under test (issue 6): the stack of stack.py
with nginx running conf/cdn.conf (addresses substituted) plus an S3 gateway
server for uploads, and the provisioner CLI for publication rules.

    import cdn
    st = cdn.CdnStack().start()          # redis, RGW, nginx (S3 + CDN)
    sp = st.seed_space()
    out = st.public(sp, "on", "--prefix", "site/", "--slug", "acme")
    st.get("/acme/site/index.html")      # (status, headers, body)
"""

import http.client
import json
import os
import subprocess

import stack

ROOT = stack.ROOT
CONF = os.path.join(ROOT, "conf", "cdn.conf")
PROXY_CONF = os.path.join(ROOT, "conf", "cdn-proxy.conf")
PROVISIONER = os.path.join(stack.BUILD, "objspace-provisioner")

# the S3 gateway next to the CDN server, for uploads (docs/TEAM-NOTES.md)
GATEWAY_SERVER = """
    server {{
        listen 127.0.0.1:{s3_port};
        objspace_region       {region};
        objspace_host_suffix  {host_suffix};

        location / {{
            objspace_gateway       on;
            objspace_backend_host  {rgw};

            client_max_body_size     0;
            proxy_request_buffering  off;
            proxy_http_version       1.1;
            proxy_set_header Connection      "";
            proxy_set_header Host            $objspace_backend_host;
            proxy_set_header Content-Length  $objspace_upstream_content_length;
            proxy_pass http://objspace_backend$objspace_upstream_uri;
        }}
    }}
"""


# a public frontend server for the standard config's http{} (the demo):
# no cache, the same proxy lines as conf/cdn.conf
PLAIN_SERVER = """
server {{
    listen 127.0.0.1:{port};
    include /etc/nginx/mime.types;
    objspace_public        on;
    objspace_backend_host  {rgw};
    location / {{
        include {proxy};
        proxy_intercept_errors on;
        error_page 404 = @objspace_public_404;
    }}
    location @objspace_public_404 {{
        include {proxy};
    }}
}}
"""


def plain_server(st, port):
    """PLAIN_SERVER for stack st on port."""
    return PLAIN_SERVER.format(port=port, rgw=st.rgw_hostport,
                               proxy=PROXY_CONF)


def provisioner_conf(st, web_endpoint="http://cdn.invalid"):
    """A provisioner config for stack st (redis, key, RGW admin keys)."""
    creds = os.path.join(st.dir, "storage.creds")
    with open(creds, "w") as f:
        f.write("access_key = %s\nsecret_key = %s\n"
                % (st.rgw_env["RGW_ADMIN_ACCESS_KEY"],
                   st.rgw_env["RGW_ADMIN_SECRET_KEY"]))
    os.chmod(creds, 0o600)
    conf = os.path.join(st.dir, "provisioner.conf")
    with open(conf, "w") as f:
        f.write("redis = %s\nkey_file = %s\nregion = %s\n"
                "endpoint = %s\n"
                "web_endpoint = %s\n"
                "storage = rgw\nstorage_endpoint = %s\n"
                "storage_credentials_file = %s\n"
                % (st.redis_addr, st.key_file, st.region,
                   getattr(st, "endpoint", None) or "http://s3.invalid",
                   web_endpoint, st.rgw_endpoint, creds))
    return conf


def prov(conf, *args, expect=0):
    """objspace-provisioner --json ARGS: the parsed JSON output (or the
    CompletedProcess when expect != 0)."""
    r = subprocess.run([PROVISIONER, "--config", conf, "--json"]
                       + list(args), capture_output=True, text=True,
                       timeout=60)
    if r.returncode != expect:
        raise stack.StackError("provisioner %s: exit %d: %s%s"
                               % (" ".join(args), r.returncode, r.stdout,
                                  r.stderr))
    if expect != 0:
        return r
    return json.loads(r.stdout)


class CdnStack(stack.Stack):
    """Stack whose nginx runs conf/cdn.conf (the shipped example)."""

    def start(self, nginx=True, **kw):
        super().start(nginx=False)
        self.prov_conf = self._provisioner_conf()
        if nginx:
            self.start_cdn(**kw)
        return self

    def cdn_conf(self, cdn_port, s3_port, edit=None, workers=None):
        """conf/cdn.conf with this stack's addresses, paths and an extra
        S3 gateway server; edit(text) may change it further."""
        prefix = os.path.join(self.dir, "nginx")
        with open(CONF) as f:
            text = f.read()
        subst = [
            ("load_module /usr/lib/nginx/modules/ngx_http_objspace_module.so;",
             "load_module %s;\ndaemon off;\npid %s/nginx.pid;"
             % (stack.MODULE, prefix)),
            ("worker_processes auto;",
             "worker_processes %d;" % (workers or self.workers)),
            ("/var/log/nginx/cdn-error.log", prefix + "/error.log"),
            ("/var/log/nginx/cdn-access.log objspace_public;",
             prefix + "/access.log objspace_public;\n"
             "    client_body_temp_path %(p)s/tmp/body;\n"
             "    proxy_temp_path       %(p)s/tmp/proxy;\n"
             "    fastcgi_temp_path     %(p)s/tmp/fastcgi;\n"
             "    uwsgi_temp_path       %(p)s/tmp/uwsgi;\n"
             "    scgi_temp_path        %(p)s/tmp/scgi;" % {"p": prefix}),
            ("127.0.0.1:6379", self.redis_addr),
            ("/etc/objspace/secret.key", self.key_file),
            ("127.0.0.1:7480", self.rgw_hostport),
            ("/var/cache/nginx/cdn", prefix + "/tmp/cache"),
            ("listen 80;", "listen 127.0.0.1:%d;" % cdn_port),
            ("allow                  127.0.0.1;",
             "allow                  127.0.0.1;"),
        ]
        for old, new in subst:
            if old not in text:
                raise stack.StackError("conf/cdn.conf: %r not found" % old)
            text = text.replace(old, new)
        text = text.replace("include                cdn-proxy.conf;",
                            "include                %s;" % PROXY_CONF)
        gw = GATEWAY_SERVER.format(s3_port=s3_port, region=self.region,
                                   host_suffix=self.host_suffix,
                                   rgw=self.rgw_hostport)
        text = text.rstrip()
        assert text.endswith("}")
        text = text[:-1] + gw + "}\n"
        if edit:
            text = edit(text)
        return text

    def start_cdn(self, edit=None, workers=None):
        self.cdn_port = stack.free_port()
        self.s3_port = stack.free_port()
        text = self.cdn_conf(self.cdn_port, self.s3_port, edit, workers)
        os.makedirs(os.path.join(self.dir, "nginx", "tmp", "cache"),
                    exist_ok=True)
        self.start_nginx(conf_text=text, port=self.s3_port)
        self.cdn = "http://127.0.0.1:%d" % self.cdn_port
        self.s3 = "http://127.0.0.1:%d" % self.s3_port
        return self

    # ------------------------------------------------------------ HTTP

    def request(self, method, path, headers=None, host=None):
        """One request to the CDN server: (status, headers dict with
        lowercase names, body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.cdn_port,
                                       timeout=30)
        h = dict(headers or {})
        if host:
            h["Host"] = host
        c.putrequest(method, path, skip_host=bool(host),
                     skip_accept_encoding=True)
        for k, v in h.items():
            c.putheader(k, v)
        c.endheaders()
        r = c.getresponse()
        body = r.read()
        hdrs = {}
        for k, v in r.getheaders():
            k = k.lower()
            hdrs[k] = hdrs[k] + ", " + v if k in hdrs else v
        c.close()
        return r.status, hdrs, body

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    # ------------------------------------------------------------ provisioner

    def _provisioner_conf(self):
        self.endpoint = None
        return provisioner_conf(self)

    def prov(self, *args, expect=0):
        return prov(self.prov_conf, *args, expect=expect)

    def public(self, space, *args, expect=0):
        """space public SPACE ARGS (space: a seeded space dict or ref)."""
        ref = space["bucket"] if isinstance(space, dict) else space
        return self.prov("space", "public", ref, *args, expect=expect)
