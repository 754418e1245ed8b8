#!/usr/bin/python3
# The stack comes up (redis, Ceph RGW, nginx with the module) and the
# gateway answers an unsigned request with an S3 XML AccessDenied error
# carrying a RequestId, while RGW itself is reachable with the backend key.

import os
import re
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import stack  # noqa: E402
import tap    # noqa: E402

st = stack.Stack()
if stack.start_or_fail(st):
    tap.pass_("redis, RGW and nginx with the module started")

    s = socket.create_connection(("127.0.0.1", st.redis_port), timeout=5)
    s.sendall(b"PING\r\n")
    tap.like(s.recv(64).decode(), r"^\+PONG", "redis answers PING")
    s.close()

    status, hdrs, body = st.http("GET", st.rgw_endpoint + "/")
    tap.is_(status, 200, "RGW answers S3 (anonymous ListBuckets)")

    sp = st.seed_space()
    c = st.rgw_client(sp)
    c.put_object(Bucket=sp["bucket"], Key="direct", Body=b"x")
    tap.is_(st.rgw_keys(sp), ["direct"],
            "seeded space: the backend key can write its bucket on RGW")

    status, hdrs, body = st.http("GET", st.endpoint + "/" + sp["bucket"]
                                 + "/direct")
    tap.is_(status, 403, "unsigned GET through the gateway: 403")
    tap.is_(stack.s3_error_code(body), "AccessDenied", "  code AccessDenied")
    tap.like(body.decode(errors="replace"), r"<RequestId>[^<]+</RequestId>",
             "  with a RequestId")
    ctype = {k.lower(): v for k, v in hdrs.items()}.get("content-type", "")
    tap.like(ctype, r"xml", "  as XML (Content-Type %s)" % ctype)

    status, hdrs, body = st.http("HEAD", st.endpoint + "/" + sp["bucket"]
                                 + "/direct")
    tap.is_(status, 403, "unsigned HEAD: 403")
    tap.is_(body, b"", "  without a body")

    status, hdrs, body = st.http("GET", st.endpoint + "/")
    tap.is_(stack.s3_error_code(body), "AccessDenied",
            "unsigned ListBuckets: AccessDenied")

    tap.is_(st.alerts(), [], "no [alert]/[crit]/[emerg] in the error log")
    log = "\n".join(st.error_log_lines())
    tap.unlike(log, re.escape(sp["backend_sk"]),
               "the backend secret never appears in the error log")

tap.done_testing()
