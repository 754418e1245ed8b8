"""Crafted, signed S3 requests over one keep-alive connection.

For tests that need the exact bytes on the wire (raw paths with %2F, `..`,
`//`, a chosen Host for virtual-hosted style) and many requests fast (the
authorization matrix, the propagation hammer). Signing is t/lib/sigv4.py.

    c = RawClient(port)
    status, headers, body = c.request("GET", "/bucket/key", ak, sk,
                                      host="bucket.s3.localhost:PORT")
    c.send("GET", presigned_path_and_query)      # no signing
    c.close()

One RawClient per thread (http.client connections are not thread-safe).
Every request may carry extra unsigned headers (e.g. a case id for the
access log). The connection is reopened after an error or a `Connection:
close` answer.
"""

import http.client
import socket

import sigv4

REGION = "us-east-1"


class RawClient:
    def __init__(self, port, timeout=30, region=REGION):
        self.port = port
        self.timeout = timeout
        self.region = region
        self.conn = None
        self.sock_name = None

    def _connect(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                               timeout=self.timeout)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock_name = self.conn.sock.getsockname()

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, method, path, headers=None, body=b""):
        """Send as is (no signing); returns (status, headers, body)."""
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                self.conn.putrequest(method, path, skip_host=True,
                                     skip_accept_encoding=True)
                for k, v in (headers or {}).items():
                    self.conn.putheader(k, v)
                if body or method in ("PUT", "POST"):
                    self.conn.putheader("Content-Length", str(len(body)))
                self.conn.endheaders(body or None)
                r = self.conn.getresponse()
                data = r.read()
                hdrs = {k.lower(): v for k, v in r.getheaders()}
                if hdrs.get("connection", "").lower() == "close":
                    self.close()
                return r.status, hdrs, data
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def request(self, method, path, ak, sk, host=None, headers=None,
                body=b"", payload_hash=None, extra=None):
        """Sign (header auth) and send. `path` is the wire path + query;
        `host` the Host header (default 127.0.0.1:PORT, path style);
        `extra` unsigned headers."""
        host = host or "127.0.0.1:%d" % self.port
        h = sigv4.sign_headers(method, "http://%s%s" % (host, path), ak, sk,
                               self.region, headers=headers, body=body,
                               payload_hash=payload_hash)
        h = sigv4.wire_headers(h)
        h.update(extra or {})
        return self.send(method, path, h, body)

    def presigned(self, method, path, ak, sk, host=None, expires=900,
                  extra=None, body=b""):
        """Presign `path` (query auth) and send it."""
        host = host or "127.0.0.1:%d" % self.port
        url = sigv4.presign(method, "http://%s%s" % (host, path), ak, sk,
                            self.region, expires=expires)
        rest = url.split(host, 1)[1]
        h = {"Host": host}
        h.update(extra or {})
        return self.send(method, rest, h, body)
