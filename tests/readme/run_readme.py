#!/usr/bin/env python3
"""Runs the README's shell examples, as written and in order, against a fresh server.

    YUNQIAO_BIN=target/debug/yunqiao python3 tests/readme/run_readme.py [README.md ...]

For each document (default: README.md and README.zh-CN.md at the repository root):

1. starts `$YUNQIAO_BIN serve --addr 127.0.0.1:0 --data-dir <fresh temp dir>` with no
   YUNQIAO_* variables in its environment (so it writes `<data dir>/admin.key` itself and
   serves the built-in WeChat mock) and waits for `yunqiao listening on http://…:PORT`;
2. takes every ```sh block, except those right after a `<!-- readme-test: skip -->` line,
   rewrites `localhost:8787` / `127.0.0.1:8787` to the server's port and `data/` to the
   temp data dir, and runs them in ONE `bash` process (`set -Eeuo pipefail`, so variables
   and functions carry over from block to block); `curl` is wrapped with
   `--fail-with-body`, so an HTTP error answer fails the block like a failing command;
3. starts a second fresh server with each ```toml block (not marked skip) as its
   `--config`: a configuration example must be safe to paste — the server starts and
   still serves the built-in WeChat mock;
4. checks that every relative link in the document — and in docs/*.md and
   sdk/js/README*.md — leads to a file that exists, and that `#anchors` into Markdown
   files name a heading there.

`-v` prints each block's output as well.

Fails (exit 1) with a message naming the block (its heading and line) and showing its
output. Python 3.11 standard library only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DOCS = ["README.md", "README.zh-CN.md"]
LINKED_DOCS = ["docs/*.md", "sdk/js/README*.md"]  # links checked too
VERBOSE = False
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
            raise Failure(
                f"`{' '.join(args)}` did not say it was listening within {START_TIMEOUT:.0f} s"
                f" (exit {self.proc.returncode}); it printed:\n" + self.output()
            )

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            m = re.search(r"yunqiao listening on http://127\.0\.0\.1:(\d+)", line)
            if m and self.port is None:
                self.port = int(m.group(1))
                self._ready.set()
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
trap 'rc=$?; echo "%(m)s failed exit=$rc line=$LINENO command: $BASH_COMMAND" >&2; exit $rc' ERR
# An HTTP error answer fails the command (with --fail-with-body the body is still shown).
curl() { command curl %(fail)s "$@"; }
"""


def curl_fail_flag() -> str:
    """`--fail-with-body` (curl 7.76+) shows the error answer; older curls have `-f`."""
    out = subprocess.run(["curl", "--help", "all"], capture_output=True, text=True).stdout
    return "--fail-with-body" if "--fail-with-body" in out else "--fail"


def run_sh(doc: str, sh: list[Block], server: Server) -> None:
    assert server.port is not None
    parts = [PRELUDE % {"m": MARKER, "fail": curl_fail_flag()}]
    for n, b in enumerate(sh):
        parts.append(f"printf '\\n%s begin {n}\\n' '{MARKER}'\n")
        parts.append(rewrite(b.text, server.port, server.data_dir))
        parts.append(f"printf '\\n%s end {n}\\n' '{MARKER}'\n")
    script = server.workdir / "readme.sh"
    script.write_text("".join(parts), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUNQIAO_")}
    try:
        proc = subprocess.run(
            ["bash", str(script)], cwd=server.workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT,
            text=True, encoding="utf-8", errors="replace",
        )
        out, rc = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout if isinstance(e.stdout, str) else (e.stdout or b"").decode("utf-8", "replace")
        rc = None
    # Split the output by block.
    current, done, per_block = None, set(), {}
    for line in out.splitlines():
        m = re.search(re.escape(MARKER) + r" (begin|end) (\d+)$", line)
        if m:
            if m.group(1) == "begin":
                current = int(m.group(2))
                per_block[current] = []
            else:
                done.add(int(m.group(2)))
                current = None
            continue
        if current is not None:
            per_block[current].append(line)
    if rc == 0 and len(done) == len(sh):
        for n, b in enumerate(sh):
            print(f"  ok   {b.name(doc)}")
            if VERBOSE:
                print("\n".join("    | " + ln for ln in per_block.get(n, [])))
        return
    failed = next((n for n in range(len(sh)) if n not in done), len(sh) - 1)
    b = sh[failed]
    why = "timed out" if rc is None else f"exited {rc}"
    lines = per_block.get(failed, [])
    # The first report is the innermost command (a curl inside `$(…)`, say).
    reason = next((ln for ln in lines if MARKER + " failed" in ln), None)
    shown = "\n".join("    | " + ln for ln in lines if MARKER not in ln) or "    | (nothing)"
    text = "\n".join("    > " + ln for ln in rewrite(b.text, server.port, server.data_dir).splitlines())
    msg = f"{b.name(doc)} failed ({why})"
    if reason:
        msg += ":\n    " + reason.split(MARKER + " failed ", 1)[1]
    raise Failure(
        f"{msg}\n  the block as run:\n{text}\n  its output:\n{shown}\n"
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


def run_doc(doc: Path, binary: str) -> None:
    rel = doc.relative_to(ROOT) if doc.is_relative_to(ROOT) else doc
    print(f"{rel}:")
    all_blocks = blocks(doc)
    sh = [b for b in all_blocks if b.lang in ("sh", "bash", "shell") and not b.skip]
    skipped = [b for b in all_blocks if b.lang in ("sh", "bash", "shell") and b.skip]
    if not sh:
        raise Failure(f"{rel}: no ```sh blocks to run")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="yunqiao-readme-") as tmp:
        server = Server(binary, Path(tmp))
        try:
            run_sh(str(rel), sh, server)
        finally:
            server.stop()
    for b in skipped:
        print(f"  skip {b.name(str(rel))}")
    for b in all_blocks:
        if b.lang == "toml" and not b.skip:
            check_toml(str(rel), b, binary)
    check_links(doc)
    print(f"  {len(sh)} blocks run in {time.monotonic() - t0:.1f} s")


def main(argv: list[str]) -> int:
    global VERBOSE
    if "-v" in argv:
        VERBOSE = True
        argv = [a for a in argv if a != "-v"]
    binary = os.environ.get("YUNQIAO_BIN")
    if not binary:
        print("run_readme: set YUNQIAO_BIN to the yunqiao binary (e.g. target/debug/yunqiao)",
              file=sys.stderr)
        return 2
    if not (Path(binary).is_file() or shutil.which(binary)):
        print(f"run_readme: YUNQIAO_BIN={binary} is not a file", file=sys.stderr)
        return 2
    if shutil.which("bash") is None or shutil.which("curl") is None:
        print("run_readme: needs bash and curl", file=sys.stderr)
        return 2
    docs = [Path(a).resolve() for a in argv] or [ROOT / d for d in DEFAULT_DOCS]
    failures = 0
    for doc in docs:
        if not doc.exists():
            print(f"run_readme: {doc} does not exist", file=sys.stderr)
            failures += 1
            continue
        try:
            run_doc(doc, binary)
        except Failure as e:
            sys.stdout.flush()
            print(f"FAIL {e}", file=sys.stderr, flush=True)
            failures += 1
    linked = sorted({p for pat in LINKED_DOCS for p in ROOT.glob(pat)} - set(docs))
    if linked:
        print("other documents:")
    for doc in linked:
        try:
            check_links(doc)
        except Failure as e:
            sys.stdout.flush()
            print(f"FAIL {e}", file=sys.stderr, flush=True)
            failures += 1
    if failures:
        print(f"run_readme: {failures} check(s) failed", file=sys.stderr)
        return 1
    print("run_readme: every example ran")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
