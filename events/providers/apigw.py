#!/usr/bin/env python3
"""Writes apigw/<fixture>.json: each provider fixture of manifest.json as the API Gateway
HTTP API (payload 2.0) event the ingest Lambda receives, for

    cargo lambda invoke ingest --data-file events/providers/apigw/voipappz-call_hangup.json

Run it from anywhere after changing a fixture or the manifest; the core crate's fixture
tests fail while an event is out of date."""
import json
import os
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))


def source_id(entry):
    if entry["provider"] == "generic":
        return os.path.basename(entry["mapping"]).split(".")[0]
    return entry["provider"] + "-main"


def apigw_name(fixture):
    """hipcall/call_init.json -> hipcall-call_init.json; callerdesk/x.form -> callerdesk-x.form.json"""
    name = fixture.replace("/", "-")
    return name if name.endswith(".json") else name + ".json"


def event(entry):
    path = os.path.join(HERE, entry["file"])
    with open(path, encoding="utf-8") as f:
        content = f.read()
    if entry["file"].endswith(".query"):
        body, query = "", content.strip()
    else:
        body, query = content, entry.get("query", "")
    src = source_id(entry)
    headers = {"host": "abc123.execute-api.eu-west-1.amazonaws.com", "user-agent": "provider-webhook/1.0"}
    if entry.get("content_type"):
        headers["content-type"] = entry["content_type"]
    ev = {
        "version": "2.0",
        "routeKey": "ANY /hooks/{source}",
        "rawPath": f"/hooks/{src}",
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": entry["method"],
                "path": f"/hooks/{src}",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "provider-webhook/1.0",
            },
            "requestId": "fixture-" + entry["file"].replace("/", "-"),
            "routeKey": "ANY /hooks/{source}",
            "stage": "$default",
            "time": "02/Dec/2024:21:04:41 +0000",
            "timeEpoch": 1733173481000,
        },
        "pathParameters": {"source": src},
        "isBase64Encoded": False,
    }
    if query:
        params = {}
        for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
            params[k] = v
        ev["queryStringParameters"] = params
    if body:
        ev["body"] = body
    return ev


def main():
    with open(os.path.join(HERE, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    out = os.path.join(HERE, "apigw")
    os.makedirs(out, exist_ok=True)
    for entry in manifest["fixtures"]:
        name = apigw_name(entry["file"])
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            json.dump(event(entry), f, indent=2, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
