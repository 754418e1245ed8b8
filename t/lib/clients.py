"""Client factories shared by the test files and the pyenv child scenarios.

Only the standard library at import time (boto3 is imported lazily), so it
runs under Debian's python3 and under any pyenv python that has boto3.

    boto3_client(endpoint, ak, sk, style="path"|"virtual", region=...,
                 host_suffix="s3.localhost", **config)
    virtual_host_url(url, endpoint) -> (connect_url, host_header)
    stream_request(port, method, path, headers, pieces) -> (status, body)
    pyenv_python_with(module) -> path or None
"""

import glob
import os
import subprocess
import urllib.parse

REGION = "us-east-1"
HOST_SUFFIX = "s3.localhost"


def _loopback_send_handler(port):
    """botocore before-send hook: connect to 127.0.0.1:port whatever host
    the URL names, sending the URL's host in the Host header (which is what
    was signed). Lets virtual-hosted style work without DNS or /etc/hosts.
    """
    def handler(request, **kwargs):
        u = urllib.parse.urlsplit(request.url)
        if u.hostname and u.hostname.endswith(HOST_SUFFIX):
            request.headers["Host"] = u.netloc
            request.url = urllib.parse.urlunsplit(
                (u.scheme, "127.0.0.1:%d" % port, u.path, u.query,
                 u.fragment))
        return None
    return handler


def boto3_client(endpoint, ak, sk, style="path", region=REGION,
                 host_suffix=HOST_SUFFIX, session=None, verify=None,
                 **config):
    """An S3 client for the gateway at `endpoint` (http://127.0.0.1:PORT).

    style="virtual": the client addresses http://BUCKET.<host_suffix>:PORT
    (signing that host); a before-send hook connects to 127.0.0.1:PORT.
    Extra keyword arguments go to botocore.config.Config (retries default
    to 0 attempts so error codes surface at once); verify: a CA bundle
    path for an https endpoint.
    """
    import boto3
    from botocore.config import Config
    port = urllib.parse.urlsplit(endpoint).port
    if style == "virtual":
        scheme = urllib.parse.urlsplit(endpoint).scheme
        endpoint = "%s://%s:%d" % (scheme, host_suffix, port)
    s3cfg = dict(config.pop("s3", {}))
    s3cfg["addressing_style"] = style
    # boto3 (both generations) and aws cli v1 presign with SigV2 in
    # us-east-1 unless told s3v4; the gateway verifies SigV4 only
    config.setdefault("signature_version", "s3v4")
    config.setdefault("retries", {"max_attempts": 1, "mode": "standard"})
    config.setdefault("connect_timeout", 10)
    config.setdefault("read_timeout", 120)
    sess = session or boto3.session.Session()
    c = sess.client("s3", endpoint_url=endpoint, aws_access_key_id=ak,
                    aws_secret_access_key=sk, region_name=region,
                    verify=verify, config=Config(s3=s3cfg, **config))
    if style == "virtual":
        c.meta.events.register("before-send", _loopback_send_handler(port))
    return c


def virtual_host_url(url, port):
    """For a URL on *.s3.localhost: (url to connect to, Host header)."""
    u = urllib.parse.urlsplit(url)
    if u.hostname and u.hostname.endswith(HOST_SUFFIX):
        return (urllib.parse.urlunsplit(
            (u.scheme, "127.0.0.1:%d" % port, u.path, u.query, u.fragment)),
            u.netloc)
    return url, None


def stream_request(port, method, path, headers, pieces, timeout=300):
    """Send a request whose body is the iterable `pieces` (bytes), as it
    comes, to 127.0.0.1:port, with exactly `headers` (Host and
    Content-Length included: nothing is added). Returns (status, body).
    For uploads too large to hold in memory."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True,
                        skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        for piece in pieces:
            conn.send(piece)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def error_code(exc):
    """The S3 error code of a botocore ClientError (or a repr)."""
    try:
        return exc.response["Error"]["Code"]
    except Exception:
        return "%s: %s" % (type(exc).__name__, exc)


def pyenv_python_with(module="boto3"):
    """A pyenv python3 that can import `module` (newest first), or None."""
    cands = sorted(glob.glob("/root/.pyenv/versions/*/bin/python3"),
                   key=_version_key, reverse=True)
    for py in cands:
        try:
            r = subprocess.run([py, "-c", "import " + module], timeout=60,
                               capture_output=True)
        except Exception:
            continue
        if r.returncode == 0:
            return py
    return None


def pyenv_awscli_v1():
    """The pyenv aws cli v1 executable, or None."""
    for aws in sorted(glob.glob("/root/.pyenv/versions/*/bin/aws"),
                      key=_version_key, reverse=True):
        try:
            r = subprocess.run([aws, "--version"], capture_output=True,
                               text=True, timeout=60,
                               env=dict(os.environ,
                                        PATH=os.path.dirname(aws) + ":"
                                        + os.environ.get("PATH", "")))
        except Exception:
            continue
        if (r.stdout + r.stderr).startswith("aws-cli/1."):
            return aws
    return None


def _version_key(path):
    v = path.split("/versions/")[1].split("/")[0]
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return (0,)
