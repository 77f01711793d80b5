#!/usr/bin/env python3
"""Runs the README's shell examples, as written and in order, against a fresh server.

    YUNQIAO_BIN=target/debug/yunqiao python3 tests/readme/run_readme.py [README.md ...]

For each document (default: README.md and README.zh-CN.md at the repository root, the
SDK's README in both languages, docs/functions.md, docs/live-protocol.md and
docs/moving-in.md in both languages):

1. starts `$YUNQIAO_BIN serve --addr 127.0.0.1:0 --data-dir <fresh temp dir>` with no
   YUNQIAO_* variables in its environment but YUNQIAO_PAY_TABLES=plans (what the
   WeChat Pay examples sell; so it writes `<data dir>/admin.key` itself and serves the
   built-in WeChat mock, WeChat Pay included) and waits for `yunqiao listening on http://…:PORT`;
2. takes every ```sh block, except those right after a `<!-- readme-test: skip -->` line,
   rewrites `localhost:8787` / `127.0.0.1:8787` to the server's port and `data/` to the
   temp data dir, and runs them in ONE `bash` process (`set -Eeuo pipefail`, so variables
   and functions carry over from block to block), in the temp dir; `curl` is wrapped
   with `--fail-with-body`, so an HTTP error answer fails the block like a failing
   command, and `yunqiao` is $YUNQIAO_BIN with its `apply` and `functions` commands aimed
   at the server; among them, every ```js block whose first line names a file under
   `cloud/` (`// cloud/rooms.js`: a cloud-function module the document then deploys) is
   written there, where it stands, as a reader saves it;
2b. for the SDK's READMEs (JS_DOCS), runs every other ```js block (not marked skip), as
   written and in order, in one Node process against the same server (run_js.mjs: the
   mini-program's globals over the SDK's `wx` shim, `require('yunqiao')` the SDK's build,
   top-level declarations carried from block to block);
3. starts a second fresh server with each ```toml block (not marked skip) as its
   `--config`: a configuration example must be safe to paste — the server starts and
   still serves the built-in WeChat mock;
4. checks that every relative link in the document — and in docs/*.md,
   sdk/js/README*.md and CHANGELOG*.md — leads to a file that exists, and that `#anchors` into Markdown
   files name a heading there.

Then (with no documents named, or alone with `--twins`, which needs no server) checks
that the manual has both languages in step: every user document X.md (README.md,
sdk/js/README.md, docs/*.md, CHANGELOG.md) has its Chinese twin X.zh-CN.md and every twin its original;
a twin has as many ```sh, ```js and ```toml blocks as its original (counted apart: those
that run, and those marked skip) and as many `## ` sections; and the figures in the tables
of README's "Performance" section are those of the Chinese "性能" section, row by row.

`-v` prints each block's output as well.

Fails (exit 1) with a message naming the block (its heading and line) and showing its
output. Python 3.11 standard library only.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DOCS = ["README.md", "README.zh-CN.md", "sdk/js/README.md", "sdk/js/README.zh-CN.md",
                "docs/functions.md", "docs/functions.zh-CN.md",
                "docs/live-protocol.md", "docs/live-protocol.zh-CN.md",
                "docs/moving-in.md", "docs/moving-in.zh-CN.md"]
# Documents whose ```js blocks are SDK code that runs (in Node, through run_js.mjs).
JS_DOCS = {"sdk/js/README.md", "sdk/js/README.zh-CN.md"}
# A ```js block whose first line is a comment naming a file under cloud/ (`// cloud/rooms.js`)
# is that file (a cloud-function module): written there, in order among the shell blocks.
FILE_BLOCK = re.compile(r"^//\s*(cloud/[\w./-]+\.js)\s*$")
LINKED_DOCS = ["docs/*.md", "sdk/js/README*.md", "CHANGELOG*.md"]  # links checked too
# The user manual: each of these (English) has a Chinese twin, X.zh-CN.md, kept in step.
USER_DOCS = ["README.md", "sdk/js/README.md", "docs/*.md", "CHANGELOG.md"]
TWIN_SUFFIX = ".zh-CN.md"
# Sections whose tables' figures the twin must repeat exactly: (doc, heading) → twin's heading.
FIGURE_SECTIONS = {("README.md", "Performance"): "性能"}
VERBOSE = False
BINARY = "yunqiao"  # $YUNQIAO_BIN
SKIP_MARK = "<!-- readme-test: skip -->"
MARKER = "::readme-test::"
START_TIMEOUT = 30.0
RUN_TIMEOUT = 120.0


class Failure(Exception):
    pass


@dataclass
class Block:
    lang: str
    line: int  # 1-based line of the opening fence
    heading: str
    text: str
    skip: bool

    def name(self, doc: str) -> str:
        return f"{doc}:{self.line} ({self.lang} block under “{self.heading}”)"


FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")


def blocks(doc: Path) -> list[Block]:
    out: list[Block] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    heading = "(top)"
    prev = ""  # the last non-blank line before the current one, outside blocks
    i = 0
    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if m:
            indent, fence, lang = m.groups()
            start = i
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence):
                body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
                i += 1
            out.append(Block(lang, start + 1, heading, "\n".join(body) + "\n",
                             prev.strip() == SKIP_MARK))
            prev = ""
            i += 1
            continue
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.strip():
            prev = line
        i += 1
    return out


class Server:
    """`yunqiao serve` on a free loopback port with a fresh data directory."""

    def __init__(self, binary: str, workdir: Path, config: Path | None = None):
        self.workdir = workdir
        self.data_dir = workdir / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("YUNQIAO_")}
        env.setdefault("YUNQIAO_LOG", "warn")
        # What the README's WeChat Pay examples sell (its `pay.tables`); the built-in mock
        # is WeChat Pay.
        if config is None:
            env["YUNQIAO_PAY_TABLES"] = "plans"
        env["NO_COLOR"] = "1"
        args = [binary, "serve", "--addr", "127.0.0.1:0", "--data-dir", str(self.data_dir)]
        if config is not None:
            args += ["--config", str(config)]
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            args, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
            errors="replace",
        )
        self.port: int | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._ready.wait(START_TIMEOUT) or self.port is None:
            self.stop()
            what = ("did not say it was listening within " f"{START_TIMEOUT:.0f} s"
                    if self.proc.returncode in (None, -15) else f"exited {self.proc.returncode}")
            raise Failure(f"`{' '.join(args)}` {what}; it printed:\n" + self.output())

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            m = re.search(r"yunqiao listening on http://127\.0\.0\.1:(\d+)", line)
            if m and self.port is None:
                self.port = int(m.group(1))
                self._ready.set()
        self.proc.wait()
        self._ready.set()  # exited

    def output(self) -> str:
        return "\n".join("    | " + line for line in self.lines) or "    | (nothing)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def rewrite(text: str, port: int, data_dir: Path) -> str:
    text = re.sub(r"\b(?:localhost|127\.0\.0\.1):8787\b", f"127.0.0.1:{port}", text)
    # `data/…` as a path of its own (not `…/data/` or `metadata/`).
    return re.sub(r"(?<![\w./-])data/", f"{data_dir}/", text)


PRELUDE = r"""
set -Eeuo pipefail
M='%(m)s'
trap 'rc=$?; printf "\n%%s failed: exit %%s at line %%s: %%s\n" "$M" "$rc" "$LINENO" "$BASH_COMMAND" >&2; exit $rc' ERR
# An HTTP error answer fails the command (with --fail-with-body its body is still shown).
curl() {
  local rc=0
  command curl %(fail)s "$@" || rc=$?
  if [ "$rc" -eq 22 ]; then
    printf "\n%%s curl: the answer was an HTTP error (above): curl %%s\n" "$M" "$*" >&2
  elif [ "$rc" -ne 0 ]; then
    printf "\n%%s curl: exit %%s: curl %%s\n" "$M" "$rc" "$*" >&2
  fi
  return "$rc"
}
# `yunqiao apply` / `yunqiao functions …` talk to --url, default http://127.0.0.1:8787: here,
# the test's server (unless the block names a --url, which is then rewritten like curl's).
yunqiao() {
  case "${1:-}" in
    apply|functions)
      case " $* " in *" --url "*|*" --url="*) command "$YQ_BIN" "$@" ;;
        *) command "$YQ_BIN" "$@" --url "$YQ_URL" ;; esac ;;
    *) command "$YQ_BIN" "$@" ;;
  esac
}
"""


def curl_fail_flag() -> str:
    """`--fail-with-body` (curl 7.76+) shows the error answer; older curls have `-f`."""
    out = subprocess.run(["curl", "--help", "all"], capture_output=True, text=True).stdout
    return "--fail-with-body" if "--fail-with-body" in out else "--fail"


def run_sh(doc: str, sh: list[Block], server: Server) -> None:
    """Runs the blocks in one bash; raises Failure naming the first block that failed."""
    assert server.port is not None
    script = PRELUDE % {"m": MARKER, "fail": curl_fail_flag()}
    starts = []  # script line (1-based) of each block's first line
    for n, b in enumerate(sh):
        script += f"printf '\\n%s begin {n}\\n' \"$M\"\n"
        if b.lang == "file":  # a ```js block naming its file: written where it stands
            path = FILE_BLOCK.match(b.text.split("\n", 1)[0].strip()).group(1)
            script += f"mkdir -p {shlex.quote(str(Path(path).parent))}\n"
            script += f"cat > {shlex.quote(path)} <<'__YQ_FILE_END__'\n"
        starts.append(script.count("\n") + 1)
        script += rewrite(b.text, server.port, server.data_dir) if b.lang != "file" else b.text
        if b.lang == "file":
            script += "__YQ_FILE_END__\n"
        script += f"printf '\\n%s end {n}\\n' \"$M\"\n"
    path = server.workdir / "readme.sh"
    path.write_text(script, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUNQIAO_")}
    env["YQ_BIN"] = str(Path(BINARY).resolve()) if Path(BINARY).is_file() else BINARY
    env["YQ_URL"] = f"http://127.0.0.1:{server.port}"
    # Never through a proxy: the server is on loopback.
    env["no_proxy"] = env["NO_PROXY"] = ",".join(
        x for x in ["127.0.0.1", "localhost", env.get("no_proxy", "")] if x)
    try:
        proc = subprocess.run(
            ["bash", str(path)], cwd=server.workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT,
            text=True, encoding="utf-8", errors="replace",
        )
        out, rc = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout if isinstance(e.stdout, str) else (e.stdout or b"").decode("utf-8", "replace")
        rc = None
    # Split the output by block; keep the runner's own reports apart.
    current, done = None, set()
    output: dict[int, list[str]] = {}
    reports: dict[int, list[str]] = {}
    for line in out.splitlines():
        m = re.fullmatch(re.escape(MARKER) + r" (begin|end) (\d+)", line)
        if m:
            current = int(m.group(2)) if m.group(1) == "begin" else None
            if m.group(1) == "end":
                done.add(int(m.group(2)))
            continue
        if current is None:
            continue
        if line.startswith(MARKER):
            reports.setdefault(current, []).append(line[len(MARKER):].strip())
        elif line or output.get(current):
            output.setdefault(current, []).append(line)
    if rc == 0 and len(done) == len(sh):
        for n, b in enumerate(sh):
            print(f"  ok   {b.name(doc)}")
            if VERBOSE:
                print("\n".join("    | " + ln for ln in output.get(n, [])))
        return
    failed = next((n for n in range(len(sh)) if n not in done), len(sh) - 1)
    b = sh[failed]

    def where(n: int) -> str:
        """A script line as the document's line, and what it says there."""
        i = max((k for k, st in enumerate(starts) if st <= n), default=None)
        if i is None:
            return f"line {n} of the runner's prelude"
        src = sh[i].text.splitlines()[n - starts[i]] if n - starts[i] < len(sh[i].text.splitlines()) else ""
        return f"{doc}:{sh[i].line + 1 + n - starts[i]}: {src.strip()}"

    why, seen = [], set()
    for r in reports.get(failed, []):
        m = re.fullmatch(r"failed: exit (\d+) at line (\d+): .*", r, flags=re.S)
        if m:
            if m.group(2) in seen:
                continue  # the same line again, from the shell that ran `$(…)`
            seen.add(m.group(2))
            r = f"exit {m.group(1)} at {where(int(m.group(2)))}"
        why.append(r)
    if rc is None:
        why.append(f"timed out after {RUN_TIMEOUT:.0f} s")
    elif not why:
        why.append(f"bash exited {rc}")
    text = "\n".join("    > " + ln for ln in rewrite(b.text, server.port, server.data_dir).splitlines())
    shown = "\n".join("    | " + ln for ln in output.get(failed, [])) or "    | (nothing)"
    raise Failure(
        f"{b.name(doc)} failed:\n" + "\n".join("    " + w for w in why)
        + f"\n  the block as run:\n{text}\n  its output:\n{shown}\n"
        f"  the server's output:\n{server.output()}"
    )


def file_blocks(rel: str, blocks_: list[Block]) -> list[tuple[Block, str]]:
    """The ```js (and ```json) blocks that are files, with their paths."""
    out = []
    for b in blocks_:
        first = b.text.split("\n", 1)[0].strip()
        m = FILE_BLOCK.match(first)
        if m and b.lang in ("js", "javascript") and not b.skip:
            out.append((b, m.group(1)))
    return out


def run_js(doc: str, js: list[Block], server: Server) -> None:
    """Runs the SDK blocks in one Node process (run_js.mjs); raises Failure naming the block."""
    assert server.port is not None
    node = shutil.which("node")
    if node is None:
        raise Failure(f"{doc}: needs node (20 or later) to run its js blocks")
    if not (ROOT / "sdk/js/node_modules/typescript").exists():
        raise Failure(f"{doc}: run `npm ci` in sdk/js first (the js blocks need its packages)")
    path = server.workdir / "blocks.json"
    path.write_text(json.dumps([{"line": b.line, "code": rewrite(b.text, server.port, server.data_dir)}
                                for b in js]), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUNQIAO_")}
    env["no_proxy"] = env["NO_PROXY"] = ",".join(
        x for x in ["127.0.0.1", "localhost", env.get("no_proxy", "")] if x)
    try:
        proc = subprocess.run(
            [node, str(ROOT / "tests/readme/run_js.mjs"), str(path)], cwd=server.workdir, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=RUN_TIMEOUT, text=True, encoding="utf-8", errors="replace")
        out, rc = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout if isinstance(e.stdout, str) else (e.stdout or b"").decode("utf-8", "replace")
        rc = None
    current, done = None, set()
    output: dict[int, list[str]] = {}
    failed_at, why = None, []
    for line in out.splitlines():
        m = re.fullmatch(re.escape(MARKER) + r" (begin|end) (\d+)", line)
        if m:
            current = int(m.group(2)) if m.group(1) == "begin" else None
            if m.group(1) == "end":
                done.add(int(m.group(2)))
            continue
        m = re.match(re.escape(MARKER) + r" failed (-?\d+): (.*)", line)
        if m:
            failed_at = int(m.group(1))
            why.append(m.group(2))
            continue
        if line.startswith(MARKER + " ") and failed_at is not None:
            why.append(line[len(MARKER) + 1:])
            continue
        if current is not None and (line or output.get(current)):
            output.setdefault(current, []).append(line)
    if rc == 0 and len(done) == len(js):
        for n, b in enumerate(js):
            print(f"  ok   {b.name(doc)} (node)")
            if VERBOSE:
                print("\n".join("    | " + ln for ln in output.get(n, [])))
        return
    n = failed_at if failed_at is not None and failed_at >= 0 else next(
        (k for k in range(len(js)) if k not in done), len(js) - 1)
    b = js[n]
    if rc is None:
        why.append(f"timed out after {RUN_TIMEOUT:.0f} s")
    elif not why:
        why.append(f"node exited {rc}:\n" + out[-3000:])
    text = "\n".join("    > " + ln for ln in b.text.splitlines())
    shown = "\n".join("    | " + ln for ln in output.get(n, [])) or "    | (nothing)"
    raise Failure(
        f"{b.name(doc)} failed (node):\n" + "\n".join("    " + w for w in why)
        + f"\n  the block:\n{text}\n  its output:\n{shown}\n"
        f"  the server's output:\n{server.output()}"
    )


def check_toml(doc: str, b: Block, binary: str) -> None:
    with tempfile.TemporaryDirectory(prefix="yunqiao-readme-toml-") as tmp:
        work = Path(tmp)
        cfg = work / "yunqiao.toml"
        cfg.write_text(b.text, encoding="utf-8")
        try:
            server = Server(binary, work, config=cfg)
        except Failure as e:
            raise Failure(f"{b.name(doc)}: the server does not start with it as --config:\n{e}")
        try:
            if not any("built-in mock" in line for line in server.lines):
                raise Failure(
                    f"{b.name(doc)}: with it as --config the server does not serve the "
                    f"built-in WeChat mock; it printed:\n{server.output()}"
                )
        finally:
            server.stop()
    print(f"  ok   {b.name(doc)} (safe to paste: starts, WeChat mock on)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    h = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower())
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        if in_code or not re.match(r"#{1,6}\s", line):
            continue
        s = slug(line.lstrip("#"))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def check_links(doc: Path) -> None:
    rel = doc.relative_to(ROOT) if doc.is_relative_to(ROOT) else doc
    text = doc.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.exists():
            bad.append(f"{target}: {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest} does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {dest.name}")
    if bad:
        raise Failure(f"{rel}: broken links:\n" + "\n".join("    " + b for b in bad))
    print(f"  ok   {rel}: every relative link leads somewhere")


def run_doc(doc: Path, binary: str) -> list[str]:
    """Every check of one document; returns the failures."""
    rel = str(doc.relative_to(ROOT) if doc.is_relative_to(ROOT) else doc)
    print(f"{rel}:")
    failures: list[str] = []

    def check(f, *args) -> None:
        try:
            f(*args)
        except Failure as e:
            sys.stdout.flush()
            print(f"FAIL {e}", file=sys.stderr, flush=True)
            failures.append(str(e).splitlines()[0])

    all_blocks = blocks(doc)
    files = file_blocks(rel, all_blocks)
    file_ids = {id(b) for b, _ in files}
    # Shell blocks, and the file blocks among them (written where they stand), in order.
    sh = [Block("file", b.line, b.heading, b.text, b.skip) if id(b) in file_ids else b
          for b in all_blocks
          if (b.lang in ("sh", "bash", "shell") and not b.skip) or id(b) in file_ids]
    js = [b for b in all_blocks if b.lang in ("js", "javascript") and not b.skip
          and id(b) not in file_ids] if rel in JS_DOCS else []
    t0 = time.monotonic()

    def run_all() -> None:
        if not sh and not js:
            raise Failure(f"{rel}: no ```sh or ```js blocks to run")
        with tempfile.TemporaryDirectory(prefix="yunqiao-readme-") as tmp:
            server = Server(binary, Path(tmp))
            try:
                if sh:
                    run_sh(rel, sh, server)
                if js:
                    run_js(rel, js, server)
            finally:
                server.stop()

    check(run_all)
    for b in all_blocks:
        if b.skip:
            print(f"  skip {b.name(rel)}")
        elif b.lang == "toml":
            check(check_toml, rel, b, binary)
    check(check_links, doc)
    print(f"  {len(sh) + len(js)} blocks run, {time.monotonic() - t0:.1f} s")
    return failures


# --- The two languages in step ------------------------------------------------------------

BLOCK_KINDS = {"sh": "sh", "bash": "sh", "shell": "sh", "js": "js", "javascript": "js",
               "toml": "toml"}


def block_counts(doc: Path) -> dict[str, int]:
    """```sh/js/toml blocks, as `sh` (run) or `sh (skip)` (marked skip), and so on."""
    out: dict[str, int] = {}
    for b in blocks(doc):
        kind = BLOCK_KINDS.get(b.lang)
        if kind:
            key = f"{kind} (skip)" if b.skip else kind
            out[key] = out.get(key, 0) + 1
    return out


def headings(doc: Path) -> list[tuple[int, str, int]]:
    """(level, text, line) of every heading outside fenced blocks."""
    out = []
    fence = None
    for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(2)
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            continue
        h = re.match(r"(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if h:
            out.append((len(h.group(1)), h.group(2), n))
    return out


def section_figures(doc: Path, heading: str) -> list[tuple[int, list[str]]]:
    """(line, sorted numbers) of each table row in the section under `heading`, its
    subsections included."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    hs = headings(doc)
    start = next(((lv, n) for lv, text, n in hs if text == heading), None)
    if start is None:
        raise Failure(f"{doc.relative_to(ROOT)}: no section “{heading}”")
    level, first = start
    end = next((n for lv, _, n in hs if n > first and lv <= level), len(lines) + 1)
    rows = []
    for n in range(first, end - 1):
        line = lines[n].strip()
        if not line.startswith("|") or re.fullmatch(r"[|\s:-]+", line):
            continue
        rows.append((n + 1, sorted(re.findall(r"\d+(?:[.,]\d+)*", line))))
    return rows[1:] if rows else rows  # the header row names columns, not figures


def twin_docs() -> list[tuple[Path, Path]]:
    """(original, twin) of every user document; raises Failure naming the missing ones."""
    originals = sorted({p for pat in USER_DOCS for p in ROOT.glob(pat)
                        if not p.name.endswith(TWIN_SUFFIX)})
    twins = sorted({p for pat in USER_DOCS for p in ROOT.glob(pat.replace(".md", TWIN_SUFFIX))})
    missing = [f"{p.relative_to(ROOT)} has no Chinese twin {p.name[:-3]}{TWIN_SUFFIX}"
               for p in originals if not p.with_name(p.name[:-3] + TWIN_SUFFIX).exists()]
    missing += [f"{t.relative_to(ROOT)} has no original {t.name[:-len(TWIN_SUFFIX)]}.md"
                for t in twins if not t.with_name(t.name[:-len(TWIN_SUFFIX)] + ".md").exists()]
    if missing:
        raise Failure("the manual's two languages:\n" + "\n".join("    " + m for m in missing))
    return [(p, p.with_name(p.name[:-3] + TWIN_SUFFIX)) for p in originals]


def check_twin(en: Path, zh: Path) -> None:
    """The same blocks and second-level sections in both; the same figures where asked."""
    ren, rzh = en.relative_to(ROOT), zh.relative_to(ROOT)
    bad = []
    ce, cz = block_counts(en), block_counts(zh)
    for kind in sorted(set(ce) | set(cz)):
        if ce.get(kind, 0) != cz.get(kind, 0):
            bad.append(f"```{kind} blocks: {ce.get(kind, 0)} in {ren}, {cz.get(kind, 0)} in {rzh}")
    he = [h for h in headings(en) if h[0] == 2]
    hz = [h for h in headings(zh) if h[0] == 2]
    if len(he) != len(hz):
        bad.append(f"`## ` sections: {len(he)} in {ren} ({', '.join(t for _, t, _ in he)}); "
                   f"{len(hz)} in {rzh} ({', '.join(t for _, t, _ in hz)})")
    for (doc, heading), twin_heading in FIGURE_SECTIONS.items():
        if str(ren) != doc:
            continue
        fe, fz = section_figures(en, heading), section_figures(zh, twin_heading)
        if len(fe) != len(fz):
            bad.append(f"“{heading}”: {len(fe)} table rows in {ren}, {len(fz)} in {rzh}")
        for (le, a), (lz, b) in zip(fe, fz):
            if a != b:
                only_en = sorted(set(a) - set(b)) or a
                only_zh = sorted(set(b) - set(a)) or b
                bad.append(f"“{heading}” figures differ: {ren}:{le} has {', '.join(only_en)}; "
                           f"{rzh}:{lz} has {', '.join(only_zh)}")
    if bad:
        raise Failure(f"{rzh} is out of step with {ren}:\n" + "\n".join("    " + b for b in bad))
    counts = ", ".join(f"{n} {k}" for k, n in sorted(ce.items()))
    print(f"  ok   {rzh} twins {ren}: {counts or 'no'} blocks, {len(he)} sections")


def check_twins() -> list[str]:
    """Every check of the manual's two languages; returns the failures."""
    print("the manual in two languages:")
    failures = []
    try:
        pairs = twin_docs()
    except Failure as e:
        sys.stdout.flush()
        print(f"FAIL {e}", file=sys.stderr, flush=True)
        failures.append(str(e).splitlines()[0] + " " + str(e).splitlines()[1].strip())
        pairs = [(p, t) for p in sorted({p for pat in USER_DOCS for p in ROOT.glob(pat)})
                 if not p.name.endswith(TWIN_SUFFIX)
                 for t in [p.with_name(p.name[:-3] + TWIN_SUFFIX)] if t.exists()]
    for en, zh in pairs:
        try:
            check_twin(en, zh)
        except Failure as e:
            sys.stdout.flush()
            print(f"FAIL {e}", file=sys.stderr, flush=True)
            failures.append(str(e).splitlines()[0])
    return failures


def main(argv: list[str]) -> int:
    global VERBOSE, BINARY
    if "-v" in argv:
        VERBOSE = True
        argv = [a for a in argv if a != "-v"]
    if "--twins" in argv:  # the static check of the two languages alone: no server
        failures = check_twins()
        print("run_readme: the twins are in step" if not failures
              else f"run_readme: {len(failures)} failure(s)", file=sys.stderr if failures else sys.stdout)
        return 1 if failures else 0
    binary = os.environ.get("YUNQIAO_BIN")
    if not binary:
        print("run_readme: set YUNQIAO_BIN to the yunqiao binary (e.g. target/debug/yunqiao)",
              file=sys.stderr)
        return 2
    BINARY = binary
    if not (Path(binary).is_file() or shutil.which(binary)):
        print(f"run_readme: YUNQIAO_BIN={binary} is not a file", file=sys.stderr)
        return 2
    if shutil.which("bash") is None or shutil.which("curl") is None:
        print("run_readme: needs bash and curl", file=sys.stderr)
        return 2
    docs = [Path(a).resolve() for a in argv] or [ROOT / d for d in DEFAULT_DOCS]
    failures: list[str] = [] if argv else check_twins()
    for doc in docs:
        if not doc.exists():
            failures.append(f"{doc} does not exist")
            continue
        failures += run_doc(doc, binary)
    linked = sorted({p for pat in LINKED_DOCS for p in ROOT.glob(pat)} - set(docs))
    if linked:
        print("other documents:")
    for doc in linked:
        try:
            check_links(doc)
        except Failure as e:
            sys.stdout.flush()
            print(f"FAIL {e}", file=sys.stderr, flush=True)
            failures.append(str(e).splitlines()[0])
    if failures:
        print(f"run_readme: {len(failures)} failure(s):", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        return 1
    print("run_readme: every example ran")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
