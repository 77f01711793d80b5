#!/usr/bin/env python3
"""Writes a copy of a SAM template whose parameters default to the given values, so that
linters which read only the template (cfn-lint's condition checks, `sam validate`) see
the stack as it is deployed with those values: e.g. with the custom-domain parameters set.

    infra/template_variant.py <template> <out> Name=value [Name=value ...]

Only a parameter's `Default:` line (added when absent) changes; nothing else is parsed,
so CloudFormation's short-form tags (!Ref, !Sub, ...) pass through untouched.
Standard library only.
"""
import re
import sys


def with_defaults(text: str, values: dict) -> str:
    lines = text.split("\n")
    try:
        start = lines.index("Parameters:")
    except ValueError:
        raise SystemExit("template_variant: no top-level Parameters: section")
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace() and not lines[i].startswith("#")),
        len(lines),
    )
    out = lines[:start + 1]
    seen = set()
    i = start + 1
    while i < end:
        m = re.match(r"^  ([A-Za-z0-9]+):\s*$", lines[i])
        if not m or m.group(1) not in values:
            out.append(lines[i])
            i += 1
            continue
        name = m.group(1)
        seen.add(name)
        out.append(lines[i])
        i += 1
        block = []
        while i < end and (lines[i].startswith("    ") or not lines[i].strip()):
            block.append(lines[i])
            i += 1
        block = [b for b in block if not re.match(r"^    Default:", b)]
        value = values[name].replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'    Default: "{value}"')
        out.extend(block)
    out.extend(lines[end:])
    missing = set(values) - seen
    if missing:
        raise SystemExit(f"template_variant: no parameter(s) {sorted(missing)} in the template")
    return "\n".join(out)


def main() -> None:
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    src, dst, *pairs = sys.argv[1:]
    values = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep:
            raise SystemExit(f"template_variant: {p!r} is not Name=value")
        values[k] = v
    with open(src, encoding="utf-8") as f:
        text = f.read()
    with open(dst, "w", encoding="utf-8") as f:
        f.write(with_defaults(text, values))


if __name__ == "__main__":
    main()
