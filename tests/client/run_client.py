"""A client generated from the OpenAPI document calls the API (`make test`).

Starts a fresh `yunqiao serve`, generates a Python client from the document it serves
(openapi-python-client, installed from infra/requirements-client.txt), and with that
client only: logs in (the built-in WeChat mock), defines a table as the admin, creates
records, queries them with conditions and an order, runs a batch, keeps values of every
JSON kind in a key-value namespace, deploys a cloud-function module and calls an export
with arguments. A document that declares any-JSON values as objects, or a
condition as anything but `[field, op, value]`, fails here: the client cannot even build
those requests.

Usage: YUNQIAO_BIN=… CLIENT_VENV=… $CLIENT_VENV/bin/python tests/client/run_client.py
(the generated client runs on the venv's httpx and attrs)
"""

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from datetime import datetime

ADMIN_KEY = "client-admin-key-" + os.urandom(8).hex()
PACKAGE = "yq_generated_client"
MODULE = """
export function add(a, b) { return a + b; }
export function echo(...args) { return { args }; }
"""


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


def generate(venv: str, doc: str, out: str) -> None:
    env = dict(os.environ, PATH=f"{venv}/bin:" + os.environ.get("PATH", ""))
    r = subprocess.run(
        [f"{venv}/bin/openapi-python-client", "generate", "--path", doc,
         "--output-path", out, "--meta", "none", "--overwrite"],
        env=env, capture_output=True, text=True,
    )
    print(r.stdout[-4000:], r.stderr[-2000:])
    if r.returncode != 0 or not os.path.isdir(out):
        sys.exit("the client could not be generated from the document")
    # Every operation must come through: the generator skips (with a warning) what it
    # cannot express, and a skipped operation is one a client cannot call.
    if "Unable to parse" in r.stdout or "will not be generated" in r.stdout:
        sys.exit("the generator skipped parts of the document")


def bare_objects(node, at="#"):
    """Schemas that say only "an object": what any-JSON values were once declared as,
    which a generated client cannot fill with a number, a string or a list."""
    if isinstance(node, dict):
        if node.get("type") == "object" and not set(node) - {"type", "description"}:
            yield at
        for k, v in node.items():
            yield from bare_objects(v, f"{at}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from bare_objects(v, f"{at}/{i}")


def check(status, parsed, want: int, what: str):
    code = int(status)
    assert code == want, f"{what}: {code}, want {want}"
    assert parsed is not None, f"{what}: the answer did not parse as documented"
    return parsed


def run(base: str) -> None:
    api = lambda name: importlib.import_module(f"{PACKAGE}.api.{name}")  # noqa: E731
    models = importlib.import_module(f"{PACKAGE}.models")
    Client = importlib.import_module(PACKAGE).AuthenticatedClient

    # Log in as a mini-program user (the built-in WeChat mock takes `mock:<name>`).
    r = api("auth.login").sync_detailed(
        client=importlib.import_module(PACKAGE).Client(base_url=base),
        body=models.CodeBody(code="mock:client-" + os.urandom(4).hex()),
    )
    login = check(r.status_code, r.parsed, 200, "login")
    assert login.token and login.user.id, login
    user = Client(base_url=base, token=login.token)
    admin = Client(base_url=base, token=ADMIN_KEY)

    # Define a table as the admin.
    table = "gen_items"
    field = models.FieldView
    r = api("tables.put_table").sync_detailed(
        table, client=admin,
        body=models.TableDefBody(
            fields=[
                field(name="title", type_="string", required=True),
                field(name="n", type_="integer", index=True),
                field(name="tags", type_="json"),
            ],
            acl=models.TableAclView(record="rwd:r:r", create="users"),
        ),
    )
    t = check(r.status_code, r.parsed, 201, "put table")
    assert t.name == table and [f.name for f in t.fields] == ["title", "n", "tags"], t

    # Records, with fields of every JSON kind.
    for i, title in enumerate(["a", "b", "c", "d"]):
        rec = models.RecordInput.from_dict({"title": title, "n": i, "tags": [title, {"i": i}]})
        r = api("tables.create_record").sync_detailed(table, client=user, body=rec)
        got = check(r.status_code, r.parsed, 201, "create record").to_dict()
        assert got["title"] == title and got["n"] == i and got["_id"], got

    # A query with conditions (numbers and lists as values) and an order.
    r = api("tables.query_records").sync_detailed(
        table, client=user,
        body=models.QueryBody(
            where=[["n", "gte", 1], ["title", "in", ["b", "c", "d"]]],
            order=[["n", "desc"]],
            limit=2,
        ),
    )
    page = check(r.status_code, r.parsed, 200, "query")
    items = [it.to_dict() for it in page.items]
    assert [it["n"] for it in items] == [3, 2], items
    assert items[0]["tags"] == ["d", {"i": 3}], items
    assert isinstance(page.cursor, str), "more follow: a cursor"

    # A batch: a create and a delete in one transaction.
    first = items[0]["_id"]
    r = api("tables.batch").sync_detailed(
        client=user,
        body=models.BatchBody.from_dict({"ops": [
            {"op": "create", "table": table, "data": {"title": "e", "n": 9}},
            {"op": "delete", "table": table, "id": first},
        ]}),
    )
    done = check(r.status_code, r.parsed, 200, "batch")
    results = [x.to_dict() for x in done.results]
    assert results[0]["title"] == "e" and results[1] == {"_id": first, "deleted": True}, results

    # A key-value namespace, and values of any JSON kind.
    r = api("kv.put_namespace").sync_detailed(
        "genkv", client=admin, body=models.KvNamespaceBody(read="users", write="users"),
    )
    check(r.status_code, r.parsed, 201, "define a namespace")
    for key, value in [("n", 42), ("list", [1, "x", None]), ("nothing", None)]:
        r = api("kv.put_key").sync_detailed("genkv", key, client=user, body=models.KvPutBody(value=value))
        check(r.status_code, r.parsed, 201, f"put {key}")
        r = api("kv.get_key").sync_detailed("genkv", key, client=user)
        assert check(r.status_code, r.parsed, 200, f"get {key}").value == value, r.content
    # An entry's version is `_v`, as a record's: shown, and taken to make a write conditional.
    r = api("kv.put_key").sync_detailed(
        "genkv", "n", client=user, body=models.KvPutBody.from_dict({"value": 43, "_v": 1}),
    )
    entry = check(r.status_code, r.parsed, 200, "a conditional put").to_dict()
    assert entry["_v"] == 2 and entry["value"] == 43 and "version" not in entry, entry
    r = api("kv.put_key").sync_detailed(
        "genkv", "n", client=user, body=models.KvPutBody.from_dict({"value": 44, "_v": 1}),
    )
    assert r.status_code == 409, r.content
    assert json.loads(r.content)["error"]["details"] == {"field": "_v", "current_v": 2}, r.content

    # A cloud-function module, and a call of an export with arguments.
    r = api("functions.put_module").sync_detailed(
        "genmath", client=admin,
        body=models.ModuleBody(source=MODULE, access="users"),
    )
    m = check(r.status_code, r.parsed, 201, "deploy")
    assert sorted(e.name for e in m.exports) == ["add", "echo"], m
    # Times are RFC 3339 strings, as everywhere in the API.
    assert isinstance(m.deployed_at, str) and m.deployed_at.endswith("Z"), m
    datetime.fromisoformat(m.deployed_at.replace("Z", "+00:00"))
    r = api("functions.call_export").sync_detailed(
        "genmath", "add", client=user, body=models.CallBody(args=[2, 40]),
    )
    assert check(r.status_code, r.parsed, 200, "call").result == 42, r.content
    args = ["s", 1.5, None, [1, 2], {"k": True}]
    r = api("functions.call_export").sync_detailed(
        "genmath", "echo", client=user, body=models.CallBody(args=args),
    )
    assert check(r.status_code, r.parsed, 200, "call").result == {"args": args}, r.content


def main() -> int:
    binary = os.environ["YUNQIAO_BIN"]
    venv = os.environ.get("CLIENT_VENV", ".venv-client")
    data = tempfile.mkdtemp(prefix="yq-client-")
    proc, base = start(binary, data)
    try:
        doc = os.path.join(data, "openapi.json")
        with urllib.request.urlopen(base + "/v1/openapi.json") as r, open(doc, "wb") as f:
            f.write(r.read())
        with open(doc) as f:
            bare = list(bare_objects(json.load(f)))
        assert not bare, f"declared as bare objects (say any value, or what they hold): {bare}"
        generate(venv, doc, os.path.join(data, PACKAGE))
        sys.path.insert(0, data)
        run(base)
    except Exception as e:  # a client that cannot build or read a call fails the check
        traceback.print_exc()
        print(f"generated-client check FAILED: {type(e).__name__}: {e}")
        return 1
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)
    print("generated-client check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
