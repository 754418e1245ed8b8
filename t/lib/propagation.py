"""How long a change in Redis takes to reach every nginx worker.

Used by t/301-lifecycle.t (a few dozen samples, a diag) and by
bench/propagation-bench (many samples, p50/p99 against a baseline).

The nginx config must name the worker in every answer:

    add_header X-Objspace-Worker $pid always;      (WORKER_HEADER)

A Hammer keeps keep-alive connections pinned to every worker (at least
`per_worker` each) and, for one sample, has each connection send the same
request in a loop while the caller applies a change at t0 (a Redis write +
the invalidation message). A connection's latency is the time from t0 to
the answer of the first refused request after its last allowed one; the
sample's latency is the slowest connection's (every worker refuses).
"""

import threading
import time

import rawclient

WORKER_HEADER = "add_header X-Objspace-Worker $pid always;"


class Hammer:
    def __init__(self, port, workers=2, per_worker=2, max_conns=64):
        self.port = port
        self.conns = []
        pids = {}
        for _ in range(max_conns):
            c = rawclient.RawClient(port, timeout=10)
            status, hdrs, _ = c.send("GET", "/", {
                "Host": "127.0.0.1:%d" % port})
            pid = hdrs.get("x-objspace-worker")
            if pid is None:
                raise RuntimeError("no X-Objspace-Worker header: add %r"
                                   % WORKER_HEADER)
            if pids.get(pid, 0) >= per_worker:
                c.close()
            else:
                pids[pid] = pids.get(pid, 0) + 1
                c.pid = pid
                self.conns.append(c)
            if len(pids) >= workers and all(n >= per_worker
                                            for n in pids.values()):
                break
        self.pids = sorted(pids)

    def close(self):
        for c in self.conns:
            c.close()

    def sample(self, request, change, refused, settle=0.05, timeout=5.0):
        """One sample. request(conn) -> (status, headers, body) sends the
        probe on conn; change() applies the change (called at t0);
        refused(status, body) says whether an answer is a refusal. Returns
        (latency of the slowest connection, {pid: latency}) in seconds, or
        (None, ...) if a connection never settled on refusals."""
        stop = threading.Event()
        t0_box = []
        logs = [[] for _ in self.conns]

        def loop(i, c):
            log = logs[i]
            while not stop.is_set():
                status, hdrs, body = request(c)
                if hdrs.get("x-objspace-worker") != c.pid:
                    c.pid = hdrs.get("x-objspace-worker")
                log.append((time.monotonic(), refused(status, body)))

        threads = [threading.Thread(target=loop, args=(i, c), daemon=True)
                   for i, c in enumerate(self.conns)]
        for t in threads:
            t.start()
        time.sleep(settle)
        t0 = time.monotonic()
        t0_box.append(t0)
        change()
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            time.sleep(0.01)
            done = True
            for log in logs:
                # settled: refused for at least 5 answers or 100 ms
                tail = [r for t, r in log if t > t0]
                if len(tail) < 5 or not all(tail[-5:]):
                    done = False
                    break
            if done:
                break
        time.sleep(0.02)
        stop.set()
        for t in threads:
            t.join(10)
        per_pid = {}
        worst = 0.0
        for c, log in zip(self.conns, logs):
            last_ok = t0
            for t, r in log:
                if not r:
                    last_ok = max(last_ok, t)
            first_refused = [t for t, r in log if r and t >= last_ok]
            if not first_refused or not log[-1][1]:
                return None, per_pid
            lat = max(0.0, first_refused[0] - t0)
            per_pid[c.pid] = max(per_pid.get(c.pid, 0.0), lat)
            worst = max(worst, lat)
        return worst, per_pid


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]
