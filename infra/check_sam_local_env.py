#!/usr/bin/env python3
"""Checks infra/sam-local-env.json, the environment `make sam-local` gives the functions
under `sam local start-api`, against what the functions read:

* every function of template.yaml (AWS::Serverless::Function) has a section, and no
  section names a function the template lacks;
* every environment variable the template gives a function (Globals and its own
  Environment) has a value there (its section or "Parameters");
* every YUNQIAO_* variable the Lambda side's Rust code reads (functions/, api/, core/,
  adapters/ (wechat included): their src/, tests excluded) is in "Parameters", unless it is listed
  below as not the deployment's to set;
* every YUNQIAO_* variable the one configuration (config/src/, read by `yunqiao serve`
  and by every function alike) names is either there too or listed below as a setting
  only the local server uses.

Fails, naming what is missing, when a variable is added to the code or the template and
not to the file. Standard library only (no YAML parser: the template's layout is read by
indentation). Usage: infra/check_sam_local_env.py [repo root]
"""
import json
import re
import sys
from pathlib import Path

# Read by the Lambda side's code but not set by a deployment.
NOT_DEPLOYMENT_SETTINGS = {
    "YUNQIAO_SANDBOX_WORKER": "set by the cloud-function worker pool on its own child processes",
    "YUNQIAO_SECRET_": "a prefix (YUNQIAO_SECRET_<NAME>); the stack passes secrets as YUNQIAO_SECRETS_JSON",
}
# config/src/: settings only `yunqiao serve` uses (the functions read them through the same
# loader, and ignore them); yunqiao_config::SERVER_ONLY, by variable.
SERVER_ONLY = {
    "YUNQIAO_ADDR": "the local server's listen address",
    "YUNQIAO_DATA_DIR": "the embedded store's directory",
    "YUNQIAO_CONFIG": "the local server's TOML file",
    "YUNQIAO_STORE": "the local server's store choice (Lambda always uses DynamoDB)",
    "YUNQIAO_LOG_FORMAT": "the local server's log format (Lambda logs are always JSON)",
    "YUNQIAO_FUNCTIONS_SCHEDULER": "the local server's in-process scheduler (Lambda: yq-schedule)",
    "YUNQIAO_WECHAT_MOCK_ON_PUBLIC_ADDRESS": "the local server's built-in mock",
    "YUNQIAO_DYNAMODB_CREATE_TABLE": "the local server creating its table (the stack creates it)",
    "YUNQIAO_FILES": "the local server's file store choice (Lambda always uses S3)",
    "YUNQIAO_PUBLIC_URL": "where the local server's /v1/blobs is reached (on AWS forms and URLs point at S3)",
    "YUNQIAO_S3_CREATE_BUCKET": "the local server creating its bucket (the stack creates it)",
}
LAMBDA_SIDE = ["functions", "api", "core", "adapters"]
NAME = re.compile(r'"(YUNQIAO_[A-Z0-9_]*)"')


def code_names(path: Path) -> set:
    """YUNQIAO_* string literals of a Rust file, before its first #[cfg(test)], outside
    line comments."""
    text = path.read_text(encoding="utf-8")
    cut = text.find("#[cfg(test)]")
    if cut >= 0:
        text = text[:cut]
    names = set()
    for line in text.splitlines():
        code = line.split("//", 1)[0] if not line.lstrip().startswith("//") else ""
        names.update(NAME.findall(code))
    return names


def lambda_side_names(root: Path) -> dict:
    found = {}
    for top in LAMBDA_SIDE:
        for src in sorted((root / top).glob("**/src/**/*.rs")):
            if "/tests/" in src.as_posix() or "/target/" in src.as_posix():
                continue
            for n in code_names(src):
                found.setdefault(n, src.relative_to(root).as_posix())
    return found


def template_functions(text: str):
    """(Globals' variables, {function logical id: its variables})."""
    lines = text.splitlines()

    def block(start: int, indent: int) -> list:
        out = []
        for line in lines[start + 1:]:
            if line.strip() and not line.lstrip().startswith("#"):
                if len(line) - len(line.lstrip()) <= indent:
                    break
            out.append(line)
        return out

    def variables(body: list) -> set:
        names, var_indent = set(), None
        for line in body:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            ind = len(line) - len(line.lstrip())
            if var_indent is not None:
                if ind <= var_indent:
                    var_indent = None
                elif ind == var_indent + 2:
                    m = re.match(r"\s+([A-Za-z_][A-Za-z0-9_]*):", line)
                    if m:
                        names.add(m.group(1))
                    continue
                else:
                    continue
            if re.match(r"\s+Variables:\s*$", line):
                var_indent = ind
        return names

    globals_vars, functions = set(), {}
    section = None
    for i, line in enumerate(lines):
        if line and not line[0].isspace() and not line.startswith("#"):
            section = line.split(":", 1)[0]
            if section == "Globals":
                globals_vars = variables(block(i, 0))
            continue
        m = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
        if section == "Resources" and m:
            body = block(i, 2)
            if any(re.match(r"^    Type:\s*AWS::Serverless::Function\s*$", b) for b in body):
                functions[m.group(1)] = variables(body)
    return globals_vars, functions


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    env_path = root / "infra" / "sam-local-env.json"
    env = json.loads(env_path.read_text(encoding="utf-8"))
    common = env.get("Parameters", {})
    errors = []

    globals_vars, functions = template_functions((root / "template.yaml").read_text(encoding="utf-8"))
    if not functions:
        errors.append("template.yaml: no AWS::Serverless::Function found (has its layout changed?)")
    for fn, own in sorted(functions.items()):
        if fn not in env:
            errors.append(f"{fn}: a function of template.yaml with no section in {env_path.name}")
            continue
        given = set(common) | set(env[fn])
        for var in sorted((globals_vars | own) - given):
            errors.append(f"{fn}: template.yaml gives it {var}, {env_path.name} does not")
    for section in sorted(set(env) - set(functions) - {"Parameters"}):
        errors.append(f"{env_path.name}: section {section!r} names no function of template.yaml")

    for name, where in sorted(lambda_side_names(root).items()):
        if name in NOT_DEPLOYMENT_SETTINGS or name.startswith("YUNQIAO_TEST_"):
            continue
        if name not in common:
            errors.append(f"{where} reads {name}; add it to \"Parameters\" in {env_path.name}")

    config_names = {}
    for src in sorted((root / "config" / "src").glob("**/*.rs")):
        for n in code_names(src):
            config_names.setdefault(n, src.relative_to(root).as_posix())
    if not config_names:
        errors.append("config/src: no YUNQIAO_* setting found (has the configuration moved?)")
    for name, where in sorted(config_names.items()):
        if name in common or name in SERVER_ONLY or name in NOT_DEPLOYMENT_SETTINGS:
            continue
        errors.append(
            f"{where} reads {name}: add it to \"Parameters\" in {env_path.name} if the "
            f"functions use it too, else to SERVER_ONLY in {Path(__file__).name} with a reason")
    for name in sorted(set(SERVER_ONLY) - set(config_names)):
        errors.append(f"{Path(__file__).name}: SERVER_ONLY names {name}, which config/src does not read")

    for name, value in common.items():
        if not isinstance(value, str):
            errors.append(f"{env_path.name}: {name} is not a string")

    if errors:
        print(f"check_sam_local_env: {len(errors)} problem(s):", file=sys.stderr)
        for e in errors:
            print(f"  {e}", file=sys.stderr)
        return 1
    print(f"check_sam_local_env: {env_path.name} covers {len(functions)} functions and "
          f"{len(common)} variables (template and code)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
