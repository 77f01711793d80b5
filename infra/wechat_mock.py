#!/usr/bin/env python3
"""A stand-alone WeChat mock for `make sam-local`: the three WeChat server calls the
functions make, answered as yunqiao's built-in mock (adapters/wechat/src/mock.rs) answers them,
for one app whose AppID and AppSecret are given on the command line (the values in
infra/sam-local-env.json). Standard library only.

* GET  /sns/jscode2session — codes `mock:<name>` or `mock:<name>:<nonce>` (each code
  works once; the openid is stable per name and app), `mock-error:<errcode>`;
* POST /cgi-bin/stable_token — an access token (valid 2 hours);
* POST /wxa/business/getuserphonenumber?access_token= — codes `mock-phone:<digits>`,
  each once.

    infra/wechat_mock.py <host> <port> <appid> <secret>

It is a mock: anyone can log in as anyone. It listens only where it is told to.
"""
import base64
import hashlib
import json
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

APPID, SECRET = "", ""
LOCK = threading.Lock()
USED = set()
TOKENS = {}
TOKEN_TTL_S = 7200


def derive(what: str, name: str, prefix: str) -> str:
    h = hashlib.sha256(f"{what}\0{APPID}\0{name}".encode()).digest()
    return prefix + base64.urlsafe_b64encode(h).decode().rstrip("=")[:27]


def unionid(name: str) -> str:
    h = hashlib.sha256(f"unionid\0{name}".encode()).digest()
    return "u" + base64.urlsafe_b64encode(h).decode().rstrip("=")[:27]


def error(code: int, msg: str) -> dict:
    return {"errcode": code, "errmsg": msg}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("wechat-mock: " + (fmt % args) + "\n")

    def answer(self, body: dict, content_type: str = "application/json") -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path != "/sns/jscode2session":
            return self.answer(error(404, "not found"))
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if q.get("appid") != APPID:
            return self.answer(error(40013, "invalid appid"))
        if q.get("secret") != SECRET:
            return self.answer(error(40125, "invalid appsecret"))
        if q.get("grant_type") != "authorization_code":
            return self.answer(error(40002, "invalid grant_type"))
        code = q.get("js_code", "")
        if not code:
            return self.answer(error(41008, "missing code"))
        if code.startswith("mock-error:"):
            try:
                return self.answer(error(int(code.split(":", 1)[1]), "mock error"))
            except ValueError:
                return self.answer(error(-1, "mock error"))
        m = re.fullmatch(r"mock:([A-Za-z0-9_.@-]{1,64})(:.*)?", code)
        if not m:
            return self.answer(error(40029, "invalid code"))
        with LOCK:
            if code in USED:
                return self.answer(error(40163, "code been used"))
            USED.add(code)
        name = m.group(1)
        body = {"session_key": base64.b64encode(secrets.token_bytes(16)).decode(),
                "openid": derive("openid", name, "o"), "unionid": unionid(name)}
        self.answer(body, "text/plain")

    def do_POST(self):
        url = urlparse(self.path)
        length = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.answer(error(47001, "data format error"))
        now = time.time()
        if url.path == "/cgi-bin/stable_token":
            if body.get("grant_type") != "client_credential":
                return self.answer(error(40002, "invalid grant_type"))
            if body.get("appid") != APPID:
                return self.answer(error(40013, "invalid appid"))
            if body.get("secret") != SECRET:
                return self.answer(error(40125, "invalid appsecret"))
            token = secrets.token_hex(16)
            with LOCK:
                TOKENS[token] = now + TOKEN_TTL_S
            return self.answer({"access_token": token, "expires_in": TOKEN_TTL_S})
        if url.path == "/wxa/business/getuserphonenumber":
            token = parse_qs(url.query).get("access_token", [""])[0]
            with LOCK:
                exp = TOKENS.get(token)
            if exp is None:
                return self.answer(error(40001, "invalid credential, access_token is invalid or not latest"))
            if exp <= now:
                return self.answer(error(42001, "access_token expired"))
            code = str(body.get("code") or "")
            m = re.fullmatch(r"mock-phone:([0-9]{1,15})", code)
            if not m:
                return self.answer(error(40029, "invalid code"))
            with LOCK:
                if code in USED:
                    return self.answer(error(40029, "invalid code"))
                USED.add(code)
            phone = m.group(1)
            return self.answer({"errcode": 0, "errmsg": "ok", "phone_info": {
                "phoneNumber": phone, "purePhoneNumber": phone, "countryCode": 86,
                "watermark": {"timestamp": int(now), "appid": APPID}}})
        self.answer(error(404, "not found"))


def main() -> None:
    global APPID, SECRET
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    host, port, APPID, SECRET = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    server = ThreadingHTTPServer((host, port), Handler)
    print(f"wechat-mock: http://{host}:{server.server_address[1]} (app {APPID})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
