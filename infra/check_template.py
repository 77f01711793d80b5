#!/usr/bin/env python3
"""Checks what template.yaml promises a mini-program's admin and a China-partition deploy
(docs/deploy-aws.md), reading the template as text (standard library only):

* the Outputs that say what to list in the mini-program admin (服务器域名: request, socket,
  uploadFile, downloadFile), with the right scheme, custom domain when set and the
  execute-api address otherwise; the DNS targets (regional domain name and hosted zone)
  of both custom domains, present only when the domain is;
* the optional parameters: custom domains and certificates default to empty (a stack
  without them deploys as before), Architecture is arm64 or x86_64;
* partitions: no ARN spelled with a literal `arn:aws:` (every one uses ${AWS::Partition})
  and no literal `amazonaws.com` in a URL (${AWS::URLSuffix}: amazonaws.com.cn in China),
  service principals (`apigateway.amazonaws.com`, the same in every partition) aside;
* the bucket's policies: users' files (f/*, staged uploads up/*) and thumbnails (t/*) each with exactly
  PutObject, GetObject and DeleteObject, the thumbnails' attached to the upload function
  alone (it makes them, reading f/* and writing t/* itself).

Usage: infra/check_template.py [template]
"""
import re
import sys
from pathlib import Path


def sections(text: str) -> dict:
    out, name = {}, None
    for line in text.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            name = line.split(":", 1)[0]
            out[name] = []
        elif name:
            out[name].append(line)
    return out


def entries(lines: list) -> dict:
    """Two-space-indented keys of a section, each with its block as one string."""
    out, key = {}, None
    for line in lines:
        m = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
        if m:
            key = m.group(1)
            out[key] = ""
        elif key is not None:
            out[key] += line + "\n"
    return out


# output: (scheme, custom-domain condition, custom-domain parameter, execute-api fallback)
ADMIN_OUTPUTS = {
    "HttpApiUrl": ("https://", "HasHttpDomain", "HttpApiDomainName", "${HttpApi}.execute-api."),
    "WebSocketUrl": ("wss://", "HasWebSocketDomain", "WebSocketDomainName", "${WebSocketApi}.execute-api."),
    "MiniProgramRequestDomain": ("https://", "HasHttpDomain", "HttpApiDomainName", "${HttpApi}.execute-api."),
    "MiniProgramSocketDomain": ("wss://", "HasWebSocketDomain", "WebSocketDomainName", "${WebSocketApi}.execute-api."),
}
FILE_OUTPUTS = ["MiniProgramUploadFileDomain", "MiniProgramDownloadFileDomain"]
DNS_OUTPUTS = {
    "HttpApiDnsTarget": ("HasHttpDomain", "HttpApiDomain.RegionalDomainName"),
    "HttpApiDnsHostedZoneId": ("HasHttpDomain", "HttpApiDomain.RegionalHostedZoneId"),
    "WebSocketDnsTarget": ("HasWebSocketDomain", "WebSocketDomain.RegionalDomainName"),
    "WebSocketDnsHostedZoneId": ("HasWebSocketDomain", "WebSocketDomain.RegionalHostedZoneId"),
}
OPTIONAL_EMPTY = ["HttpApiDomainName", "WebSocketDomainName", "CertificateArn", "WebSocketCertificateArn"]


def check(text: str) -> list:
    errors = []
    sec = sections(text)
    outputs = entries(sec.get("Outputs", []))
    params = entries(sec.get("Parameters", []))
    resources = entries(sec.get("Resources", []))

    for name, (scheme, cond, param, fallback) in ADMIN_OUTPUTS.items():
        body = outputs.get(name)
        if body is None:
            errors.append(f"Outputs: {name} is missing")
            continue
        if "Description:" not in body:
            errors.append(f"Outputs: {name} has no Description")
        if f"- {cond}" not in body and f"[{cond}," not in body:
            errors.append(f"Outputs: {name} does not depend on {cond}")
        if f'"{scheme}${{{param}}}' not in body:
            errors.append(f"Outputs: {name} does not give {scheme}<{param}> when it is set")
        if f'"{scheme}{fallback}${{AWS::Region}}.${{AWS::URLSuffix}}' not in body:
            errors.append(f"Outputs: {name} does not fall back to {scheme}{fallback}<region>.<URLSuffix>")
    for name in FILE_OUTPUTS:
        body = outputs.get(name)
        if body is None:
            errors.append(f"Outputs: {name} is missing")
        elif '"https://${Bucket}.s3.${AWS::Region}.${AWS::URLSuffix}"' not in body:
            errors.append(f"Outputs: {name} is not the bucket's regional https address")
    for name, (cond, attr) in DNS_OUTPUTS.items():
        body = outputs.get(name)
        if body is None:
            errors.append(f"Outputs: {name} is missing")
            continue
        if f"Condition: {cond}" not in body:
            errors.append(f"Outputs: {name} is not conditional on {cond}")
        if f"!GetAtt {attr}" not in body:
            errors.append(f"Outputs: {name} is not !GetAtt {attr}")

    for res, cond, typ in [
        ("HttpApiDomain", "HasHttpDomain", "AWS::ApiGatewayV2::DomainName"),
        ("HttpApiDomainMapping", "HasHttpDomain", "AWS::ApiGatewayV2::ApiMapping"),
        ("WebSocketDomain", "HasWebSocketDomain", "AWS::ApiGatewayV2::DomainName"),
        ("WebSocketDomainMapping", "HasWebSocketDomain", "AWS::ApiGatewayV2::ApiMapping"),
    ]:
        body = resources.get(res, "")
        if f"Type: {typ}" not in body or f"Condition: {cond}" not in body:
            errors.append(f"Resources: {res} ({typ}, Condition {cond}) is missing")
        if typ.endswith("DomainName") and "EndpointType: REGIONAL" not in body:
            errors.append(f"Resources: {res} is not REGIONAL (China's regions have no edge-optimized domains)")

    for p in OPTIONAL_EMPTY:
        body = params.get(p)
        if body is None:
            errors.append(f"Parameters: {p} is missing")
        elif 'Default: ""' not in body:
            errors.append(f"Parameters: {p} must default to empty (no domain: the stack as before)")
    arch = params.get("Architecture", "")
    if "AllowedValues: [arm64, x86_64]" not in arch or "Default: arm64" not in arch:
        errors.append("Parameters: Architecture must allow [arm64, x86_64], default arm64")
    if "Architectures: [!Ref Architecture]" not in text:
        errors.append("Globals: Architectures must be [!Ref Architecture]")

    # Users' files live under f/, uploads are staged under up/ (copied to f/ on completion).
    for policy, prefixes in [("FilesPolicy", ["f", "up"]), ("ThumbsPolicy", ["t"])]:
        body = resources.get(policy, "")
        actions = sorted(re.findall(r"^\s+- (s3:\w+)\s*$", body, re.M))
        if actions != ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]:
            errors.append(f"Resources: {policy} allows {actions}, not exactly Put/Get/DeleteObject")
        objects = sorted(re.findall(r'!Sub "\$\{Bucket\.Arn\}/([^"]*)"', body))
        if objects != sorted(f"{p}/*" for p in prefixes):
            wanted = ", ".join(f"{p}/*" for p in prefixes)
            errors.append(f"Resources: {policy} reaches {objects} in the bucket, not exactly {wanted}")
    users = [name for name, body in resources.items() if "- !Ref ThumbsPolicy" in body]
    if users != ["UploadFunction"]:
        errors.append(f"Resources: ThumbsPolicy is attached to {users}, not to UploadFunction alone")

    for n, line in enumerate(text.splitlines(), 1):
        code = line.split(" #", 1)[0]
        if line.lstrip().startswith("#") or re.match(
                r"\s+(AllowedPattern|ConstraintDescription|Description):", line):
            continue
        if "arn:aws:" in code:
            errors.append(f"line {n}: a literal arn:aws: (use arn:${{AWS::Partition}}:)")
        for m in re.finditer(r"[A-Za-z0-9.-]*amazonaws\.com(\.cn)?", code):
            if not re.fullmatch(r"[a-z0-9-]+\.amazonaws\.com", m.group(0)) or "Principal" not in code:
                errors.append(f"line {n}: a literal {m.group(0)} (use ${{AWS::URLSuffix}})")
    return errors


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "template.yaml"
    errors = check(path.read_text(encoding="utf-8"))
    if errors:
        print(f"check_template: {path}: {len(errors)} problem(s):", file=sys.stderr)
        for e in errors:
            print(f"  {e}", file=sys.stderr)
        return 1
    print(f"check_template: {path.name}: the admin's outputs (request, socket, uploadFile and "
          f"downloadFile domains; DNS targets), optional domains, Architecture, partition-neutral ARNs and URLs, "
          f"the files' and thumbnails' bucket policies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
