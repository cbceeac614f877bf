#!/usr/bin/env python3
"""Calls one model method of the local Odoo the way its web client does
(POST /web/dataset/call_kw/MODEL/METHOD, JSON-RPC, logged in as admin), so
the request lines Odoo logs are the ones a real user's click makes.
usage: rpc.py MODEL METHOD [ARGS]   (ARGS: the JSON list of positional
arguments, by default [[]], no records)"""
import http.cookiejar
import json
import sys
import urllib.request

base = "http://127.0.0.1:8069"
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))


def call(path, params, timeout=600):
    body = json.dumps({"jsonrpc": "2.0", "method": "call", "params": params}).encode()
    req = urllib.request.Request(base + path, body, {"Content-Type": "application/json"})
    with opener.open(req, timeout=timeout) as r:
        return json.load(r)


model, method = sys.argv[1], sys.argv[2]
args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else [[]]
try:
    call("/web/session/authenticate", {"db": "prod", "login": "admin", "password": "admin"})
    out = call("/web/dataset/call_kw/%s/%s" % (model, method),
               {"model": model, "method": method, "args": args, "kwargs": {}})
    print(json.dumps(out.get("result", out.get("error", {}).get("message")))[:200])
except Exception as e:  # the worker was killed under the request
    print("request ended: %s" % e)
