#!/usr/bin/env python3
"""Parses an OpenMetrics exposition (stdin) with the Prometheus client library's own
parser and prints its samples as JSON: [{"name", "labels", "value", "type"}].

Run by tests/it/metrics.rs, so serve's /metrics is checked by a real Prometheus parser
rather than by the code that wrote it. Needs prometheus-client (scripts/requirements-test.txt).
"""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> None:
    samples = []
    for family in text_string_to_metric_families(sys.stdin.read()):
        for s in family.samples:
            samples.append(
                {"family": family.name, "type": family.type, "name": s.name,
                 "labels": s.labels, "value": s.value}
            )
    json.dump(samples, sys.stdout)


if __name__ == "__main__":
    main()
