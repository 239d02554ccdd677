#!/usr/bin/env python3
"""Verify webhook deliveries captured by Switchboard's Rust tests with the official
Standard Webhooks package (PyPI `standardwebhooks`), not only with our own verifier.

    python -m venv .venv && .venv/bin/pip install standardwebhooks
    SWITCHBOARD_SIGNATURE_CAPTURE=/tmp/sigs.jsonl \
        cargo test -p switchboard-core --test delivery signatures
    .venv/bin/python scripts/verify_signatures.py /tmp/sigs.jsonl

Each line of the capture file is {"label", "secret", "headers", "body_b64"}. Every line
must verify, and the same delivery with its body altered must not (so a verifier that
accepts everything cannot pass). Run it right after the tests: the package rejects
timestamps more than 5 minutes old. Exits 1 on any failure, 2 on bad input.
"""

import base64
import json
import os
import sys

try:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError
except ImportError:
    print("standardwebhooks is not installed: pip install standardwebhooks", file=sys.stderr)
    sys.exit(2)


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SWITCHBOARD_SIGNATURE_CAPTURE")
    if not path:
        print("usage: verify_signatures.py CAPTURE_FILE (or SWITCHBOARD_SIGNATURE_CAPTURE)", file=sys.stderr)
        return 2
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line for line in f if line.strip()]
    except OSError as e:
        print(f"cannot read {path}: {e}", file=sys.stderr)
        return 2
    if not lines:
        print(f"{path} holds no captured deliveries", file=sys.stderr)
        return 2

    passed = failed = 0
    for n, line in enumerate(lines, 1):
        try:
            item = json.loads(line)
            body = base64.b64decode(item["body_b64"])
            wh = Webhook(item["secret"])
            headers = item["headers"]
            label = item.get("label", "?")
        except (ValueError, KeyError) as e:
            print(f"line {n}: malformed capture: {e}", file=sys.stderr)
            failed += 1
            continue
        try:
            wh.verify(body, headers, json_parse=False)
        except WebhookVerificationError as e:
            print(f"line {n} ({label}): signature rejected: {e}", file=sys.stderr)
            failed += 1
            continue
        try:
            wh.verify(body + b" ", headers, json_parse=False)
            print(f"line {n} ({label}): an altered body was accepted", file=sys.stderr)
            failed += 1
            continue
        except WebhookVerificationError:
            pass
        passed += 1

    print(f"standardwebhooks: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
