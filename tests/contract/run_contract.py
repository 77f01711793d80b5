"""The API contract, checked against a fresh `yunqiao serve`: the OpenAPI document it
publishes validates (openapi-spec-validator), and schemathesis finds no answer outside it
— no 5xx, every status and content type documented, every body matching its schema — as
the admin, as a user and anonymously.

Usage: YUNQIAO_BIN=… CONTRACT_VENV=… python3 tests/contract/run_contract.py
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ADMIN_KEY = "contract-admin-key-" + os.urandom(8).hex()
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def start(binary: str, data: str) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUNQIAO_")}
    env.update(YUNQIAO_ADMIN_KEY=ADMIN_KEY, YUNQIAO_LOG="warn")
    proc = subprocess.Popen(
        [binary, "serve", "--addr", "127.0.0.1:0", "--data-dir", data],
        cwd=data,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    assert proc.stdout is not None
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("yunqiao listening on "):
            return proc, line.split()[-1].strip()
    proc.kill()
    sys.exit("yunqiao did not start")


def login(base: str) -> str:
    body = json.dumps({"code": "mock:contract:" + os.urandom(4).hex()}).encode()
    req = urllib.request.Request(
        base + "/v1/auth/login", data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req) as r:
        return json.load(r)["token"]


def main() -> int:
    binary = os.environ["YUNQIAO_BIN"]
    venv = os.environ.get("CONTRACT_VENV", ".venv-contract")
    data = tempfile.mkdtemp(prefix="yq-contract-")
    proc, base = start(binary, data)
    failed = []
    try:
        doc = os.path.join(data, "openapi.json")
        with urllib.request.urlopen(base + "/v1/openapi.json") as r, open(doc, "wb") as f:
            f.write(r.read())
        if subprocess.run([f"{venv}/bin/openapi-spec-validator", doc]).returncode != 0:
            failed.append("openapi-spec-validator")
        for who, token in [("admin", ADMIN_KEY), ("user", login(base)), ("anonymous", None)]:
            print(f"== schemathesis as {who}", flush=True)
            cmd = [
                f"{venv}/bin/schemathesis", "run", base + "/v1/openapi.json",
                "--experimental=openapi-3.1", "--checks", CHECKS,
                "--hypothesis-max-examples=25", "--hypothesis-suppress-health-check=all",
                "--hypothesis-derandomize", "--no-color",
            ]
            if token:
                cmd += ["-H", f"Authorization: Bearer {token}"]
            else:
                # Anonymous: no generated Authorization values (header bytes HTTP itself
                # refuses are answered by the HTTP parser, before any route).
                cmd += ["--generation-with-security-parameters=false"]
            out = subprocess.run(cmd, capture_output=True, text=True)
            lines = out.stdout.splitlines()
            print("\n".join(l for l in lines if "passed" in l or "FAILED" in l or "failed" in l or "errored" in l))
            if out.returncode != 0:
                print(out.stdout[-6000:], out.stderr[-2000:])
                failed.append(f"schemathesis as {who}")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)
    if failed:
        print("contract check FAILED:", ", ".join(failed))
        return 1
    print("contract check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
