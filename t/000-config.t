#!/usr/bin/python3
# nginx -t accepts the standard gateway config and refuses bad ones with a
# message in nginx's own wording (no Redis or RGW needed for most cases).

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import seed   # noqa: E402
import stack  # noqa: E402
import tap    # noqa: E402

st = stack.Stack()
os.makedirs(st.dir, exist_ok=True)
# nginx -t never connects anywhere: fixed addresses are enough
st.redis_addr = "127.0.0.1:6399"
st.rgw_hostport = "127.0.0.1:7480"
st.port = 18080
seed.write_key_file(st.key_file)

if not os.path.exists(stack.MODULE):
    tap.fail("module is built", "%s missing (run make)" % stack.MODULE)
    tap.done_testing()

good = st.nginx_conf()


def refuses(conf, pattern, name):
    rc, out = st.nginx_test(conf, name="c%d" % (tap.current() + 1))
    if not tap.ok(rc != 0, "refused: " + name):
        tap.diag(out)
        tap.skip("no message to check")
        return
    tap.like(out, pattern, "  message: " + pattern)


def without(conf, line):
    assert line in conf, line
    return conf.replace(line, "")


def replace(conf, old, new):
    assert old in conf, old
    return conf.replace(old, new)


rc, out = st.nginx_test(good, name="good")
tap.is_(rc, 0, "the standard config (docs/TEAM-NOTES.md) passes nginx -t")
if rc:
    tap.diag(out)
tap.unlike(out, r"\[(emerg|alert|warn)\]", "  with no warning")

redis_line = "objspace_redis            %s;" % st.redis_addr
zone_line = "objspace_cache_zone       objspace:16m;"
key_line = "objspace_secret_key_file  %s;" % st.key_file
backend_line = "objspace_backend_host  %s;" % st.rgw_hostport

refuses(without(good, redis_line),
        r'"objspace_gateway" requires "objspace_redis"',
        "objspace_gateway without objspace_redis")
refuses(without(good, zone_line),
        r'"objspace_gateway" requires "objspace_cache_zone"',
        "objspace_gateway without objspace_cache_zone")
refuses(without(good, key_line),
        r'"objspace_gateway" requires "objspace_secret_key_file"',
        "objspace_gateway without objspace_secret_key_file")
refuses(without(good, backend_line),
        r'"objspace_gateway" requires "objspace_backend_host"',
        "objspace_gateway without objspace_backend_host")

refuses(replace(good, zone_line, "objspace_cache_zone objspace:lots;"),
        r'invalid zone size "objspace:lots"', "cache zone size not a size")
refuses(replace(good, zone_line, "objspace_cache_zone objspace;"),
        r'invalid zone "objspace"', "cache zone without :SIZE")
refuses(replace(good, zone_line, "objspace_cache_zone objspace:8k;"),
        r'zone "objspace:8k" is too small', "cache zone too small")
refuses(replace(good, zone_line, zone_line + "\n" + zone_line),
        r'"objspace_cache_zone" directive is duplicate',
        "duplicate objspace_cache_zone")

refuses(replace(good, "objspace_gateway       on;",
                "objspace_gateway       maybe;"),
        r'invalid value "maybe" in "objspace_gateway" directive, '
        r'it must be "on" or "off"', "objspace_gateway maybe")
refuses(replace(good, redis_line, "objspace_redis 127.0.0.1;"),
        r'no port in objspace_redis "127.0.0.1"', "objspace_redis without port")
refuses(replace(good, redis_line, "objspace_redis redis.example:6379;"),
        r'objspace_redis "redis.example:6379" must be an IP address',
        "objspace_redis with a host name (a worker never resolves)")
refuses(replace(good, redis_line, "objspace_redis 127.0.0.1:6379 db=x;"),
        r'invalid database "db=x"', "objspace_redis db=x")
refuses(replace(good, redis_line, "objspace_redis 127.0.0.1:6379 tls=on;"),
        r'invalid parameter "tls=on"', "objspace_redis unknown parameter")

missing = os.path.join(st.dir, "no-such.key")
refuses(replace(good, key_line, "objspace_secret_key_file %s;" % missing),
        r'open\(\) "%s" failed' % missing, "secret key file missing")
short = os.path.join(st.dir, "short.key")
with open(short, "w") as f:
    f.write("abcd\n")
refuses(replace(good, key_line, "objspace_secret_key_file %s;" % short),
        r'objspace_secret_key_file "%s" must hold 64 hex characters' % short,
        "secret key file too short")
nothex = os.path.join(st.dir, "nothex.key")
with open(nothex, "w") as f:
    f.write("zz" * 32 + "\n")
refuses(replace(good, key_line, "objspace_secret_key_file %s;" % nothex),
        r'objspace_secret_key_file "%s" must hold 64 hex characters'
        % nothex, "secret key file not hex")

refuses(replace(good, "objspace_region       us-east-1;",
                "objspace_region       us-east-1;\n"
                "        objspace_clock_skew 0;"),
        r'value must be between 1 and 604800', "objspace_clock_skew 0")
refuses(replace(good, "objspace_region       us-east-1;",
                "objspace_region       us-east-1;\n"
                "        objspace_deny_log_level loud;"),
        r'invalid value "loud"', "objspace_deny_log_level loud")
refuses(replace(good, "objspace_region       us-east-1;",
                "objspace_region       us-east-1;\n"
                "        objspace_redis 127.0.0.1:6379;"),
        r'"objspace_redis" directive is not allowed here',
        "objspace_redis inside server{}")

tap.done_testing()
