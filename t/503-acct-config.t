#!/usr/bin/python3
# Configuration of quota, audit and metrics (ngx_http_objspace_acct_module):
# nginx refuses what it cannot honour, with the reason.

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import stack  # noqa: E402
import tap    # noqa: E402

st = stack.Stack()
if not stack.start_or_fail(st, nginx=False):
    sys.exit(1)


def check(name, extra_http="", extra_server="", want=None):
    rc, out = st.nginx_test(st.nginx_conf(extra_http=extra_http,
                                          extra_server=extra_server))
    if want is None:
        tap.is_(rc, 0, name + ": accepted")
    else:
        tap.ok(rc != 0, name + ": refused")
        tap.like(out, want, name + ": says why")


check("a metrics location without a zone",
      extra_server="location = /metrics { objspace_metrics; }",
      want=r'"objspace_metrics" requires "objspace_metrics_zone"')
check("a metrics zone without a size",
      extra_http="objspace_metrics_zone metrics;",
      want=r'invalid zone "metrics", expected NAME:SIZE')
check("a spool with an unknown parameter",
      extra_http="objspace_audit_spool /tmp max=1m;",
      want=r'invalid parameter "max=1m"')
check("a spool max_size below 64k",
      extra_http="objspace_audit_spool /tmp max_size=1k;",
      want=r'invalid max_size "max_size=1k"')
check("a stream maxlen below 1000",
      extra_http="objspace_audit_maxlen 10;",
      want=r"must be between 1000 and 1000000000")
check("every directive with valid values",
      extra_http="objspace_metrics_zone metrics:1m;\n"
                 "objspace_audit on;\nobjspace_audit_buffer 256k;\n"
                 "objspace_audit_spool /tmp max_size=16m;\n"
                 "objspace_audit_maxlen 50000;\n"
                 "objspace_quota_reservation_ttl 10m;",
      extra_server="location = /metrics { objspace_metrics; }")
tap.done_testing()
