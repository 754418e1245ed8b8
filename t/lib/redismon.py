"""Counting what the gateway asks Redis, with MONITOR.

    with redismon.IdentityReads(st) as reads:
        ... requests ...
    reads.count      # EVALs reading an identity (objspace:ak:AK)

Other EVALs (the audit stream's, quota) are not counted.  MONITOR is a
redis-cli child, stopped by pid when the block ends.
"""

import os
import subprocess
import time


class IdentityReads:
    def __init__(self, st):
        self.st = st
        self.count = None

    def __enter__(self):
        self.path = os.path.join(self.st.dir,
                                 "monitor.%d.log" % time.time_ns())
        self.out = open(self.path, "w")
        self.p = subprocess.Popen(["redis-cli", "-p", str(self.st.redis_port),
                                   "monitor"], stdout=self.out,
                                  stdin=subprocess.DEVNULL)
        deadline = time.time() + 5
        while time.time() < deadline and os.path.getsize(self.path) == 0:
            time.sleep(0.05)      # "OK" once MONITOR is on
        return self

    def __exit__(self, *exc):
        time.sleep(0.3)
        self.p.terminate()
        self.p.wait(5)
        self.out.close()
        with open(self.path) as f:
            self.count = sum(1 for line in f
                             if '"EVAL"' in line and '"objspace:ak:' in line)
