#!/usr/bin/python3
# ListBuckets is answered by the gateway itself: exactly the identity's own
# bucket, as well-formed XML, whatever the identity's (tenant-chosen) name
# holds: a name with XML markup must not break the answer or add a bucket.
import os
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import sigv4   # noqa: E402
import stack   # noqa: E402
import tap     # noqa: E402

st = stack.Stack()
if not stack.start_or_fail(st):
    sys.exit(1)

sp = st.seed_space()
other = st.seed_space()
evil = "ci</DisplayName></Owner><Buckets><Bucket><Name>%s</Name>" \
       "</Bucket></Buckets>&x" % other["bucket"]
k = st.seed_key(sp, "read-only", name=evil)

url = st.endpoint + "/"
h = sigv4.wire_headers(sigv4.sign_headers("GET", url, k["ak"], k["sk"],
                                          st.region))
status, _, body = st.http("GET", url, headers=h)
tap.is_(status, 200, "ListBuckets: 200")
try:
    root = ET.fromstring(body)
    ok = True
except ET.ParseError as e:
    ok = False
    tap.diag("not XML: %s: %r" % (e, body[:300]))
tap.ok(ok, "the answer is well-formed XML despite markup in the key name")
names = [e.text for e in root.iter()
         if e.tag.endswith("Name") and not e.tag.endswith("DisplayName")] \
    if ok else []
tap.is_(names, [sp["bucket"]], "exactly the identity's own bucket")

c = st.boto3_client(k["ak"], k["sk"])
got = [b["Name"] for b in c.list_buckets()["Buckets"]]
tap.is_(got, [sp["bucket"]], "boto3 list_buckets: only the own bucket")
tap.is_(st.alerts(), [], "no [alert] in the error log")
tap.done_testing()
