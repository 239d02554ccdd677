#!/usr/bin/env python3
"""Signed webhook requests made by the providers' own libraries, for Switchboard's
verification tests (tests/it/provider_signatures.rs runs this script, then replays every
request against `switchboard serve` and the ingest Lambda handler).

    provider_vectors.py BASE_URL OUT.json

BASE_URL is the scheme and host the requests are sent to (`http://127.0.0.1:8080`, or an
API Gateway URL for the Lambda events): Twilio and Plivo sign it. Each vector names the
source it needs (id, provider, verification with freshly generated secrets), the request
(method, path, query, headers, body) and whether it must be accepted (202) or refused (401).

Signers: Twilio's RequestValidator.compute_signature, Plivo's signature_v3 helpers,
PyNaCl (Ed25519) for Telnyx, PyJWT for Vonage. Each signature is also checked with the
provider's own verifier where the SDK has one (Twilio's validate, Plivo's
validate_v3_signature, Telnyx's verify_webhook_signature, vonage_jwt.verify_signature),
so the vectors are what those providers send. A missing library is an error, never a skip.
"""
import base64
import hashlib
import json
import os
import secrets
import sys
import time
import urllib.parse

try:
    import jwt
    import nacl.signing
    from plivo.utils import signature_v3 as plivo_v3
    from telnyx.lib.webhook_verification import verify_webhook_signature
    from twilio.request_validator import RequestValidator
    from vonage_jwt.verify_jwt import verify_signature as vonage_verify
except ImportError as e:  # the suite must fail, not skip, without them
    sys.exit(f"provider_vectors.py: {e}; install scripts/requirements-test.txt into .venv")

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "events", "providers")
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def fixture(path):
    with open(os.path.join(FIXTURES, path), encoding="utf-8") as f:
        return f.read()


def form_pairs(body):
    return urllib.parse.parse_qsl(body, keep_blank_values=True)


def encode_form(pairs):
    return urllib.parse.urlencode(pairs)


def with_value(pairs, key, value):
    return [(k, value if k == key else v) for k, v in pairs]


class Vectors:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.sources = {}
        self.cases = []

    def source(self, sid, provider, verification):
        self.sources[sid] = {"id": sid, "provider": provider, "verification": verification}

    def case(self, name, source, accept, method="POST", query="", headers=None, body="",
             content_type=None, path_suffix=""):
        headers = dict(headers or {})
        if content_type:
            headers["content-type"] = content_type
        self.cases.append({
            "name": name, "source": source, "accept": accept, "method": method,
            "path": f"/hooks/{source}{path_suffix}", "query": query,
            "headers": headers, "body": body,
        })

    def url(self, source, query=""):
        u = f"{self.base}/hooks/{source}"
        return f"{u}?{query}" if query else u


def twilio(v):
    token = secrets.token_hex(16)
    v.source("twilio-main", "twilio", {"type": "twilio", "auth_token": token})
    v.source("generic-twilio", "generic", {"type": "twilio", "auth_token": token})
    validator = RequestValidator(token)
    other = RequestValidator(secrets.token_hex(16))
    pairs = form_pairs(fixture("twilio/call_completed.form"))

    def signed_form(name, source, pairs, query="", accept=True, send_pairs=None, sig_by=validator):
        url = v.url(source, query)
        params = dict(pairs)
        sig = sig_by.compute_signature(url, params)
        if sig_by is validator:
            assert validator.validate(url, params, sig), name
        v.case(name, source, accept, query=query, content_type=FORM,
               body=encode_form(send_pairs if send_pairs is not None else pairs),
               headers={"X-Twilio-Signature": sig})

    sid = lambda n: with_value(pairs, "CallSid", f"CA{n:032x}")
    signed_form("twilio form status callback", "twilio-main", sid(1))
    signed_form("twilio form with a query string", "twilio-main", sid(2), query="tenant=acme&b=2")
    signed_form("twilio signing on a generic source", "generic-twilio", sid(3))
    signed_form("twilio changed parameter", "twilio-main", sid(4), accept=False,
                send_pairs=with_value(sid(4), "CallDuration", "4242"))
    signed_form("twilio added parameter", "twilio-main", sid(5), accept=False,
                send_pairs=sid(5) + [("Extra", "1")])
    signed_form("twilio wrong auth token", "twilio-main", sid(6), accept=False, sig_by=other)
    v.case("twilio missing signature", "twilio-main", False, content_type=FORM,
           body=encode_form(sid(7)))
    # A JSON body: its SHA-256 travels in the signed URL as bodySHA256.
    body = json.dumps({"CallSid": f"CA{8:032x}", "CallStatus": "completed"})
    query = "bodySHA256=" + hashlib.sha256(body.encode()).hexdigest()
    url = v.url("twilio-main", query)
    sig = validator.compute_signature(url, {})
    assert validator.validate(url, body, sig)
    v.case("twilio json body with bodySHA256", "twilio-main", True, query=query,
           content_type=JSON, body=body, headers={"X-Twilio-Signature": sig})
    v.case("twilio json body changed", "twilio-main", False, query=query, content_type=JSON,
           body=body.replace("completed", "busy"), headers={"X-Twilio-Signature": sig})
    # GET: the parameters are in the URL.
    get_query = encode_form(sid(9))
    url = v.url("twilio-main", get_query)
    sig = validator.compute_signature(url, {})
    assert validator.validate(url, {}, sig)
    v.case("twilio GET", "twilio-main", True, method="GET", query=get_query,
           headers={"X-Twilio-Signature": sig})
    v.case("twilio GET changed query", "twilio-main", False, method="GET",
           query=get_query.replace("CallDuration=42", "CallDuration=43"),
           headers={"X-Twilio-Signature": sig})


def plivo(v):
    token = secrets.token_hex(20)
    v.source("plivo-main", "plivo", {"type": "plivo", "auth_token": token})
    pairs = form_pairs(fixture("plivo/hangup.form"))
    uuid = lambda n: with_value(pairs, "CallUUID", f"bb9fac1f-0000-4000-8000-{n:012x}")

    def sign(method, url, params, nonce, key=token):
        built = (plivo_v3.construct_get_url(url, dict(params)) if method == "GET"
                 else plivo_v3.construct_post_url(url, dict(params)))
        sig = plivo_v3.get_signature_v3(key.encode(), built.decode(), nonce.encode()).decode()
        if key == token:
            assert plivo_v3.validate_v3_signature(method, url, nonce, token, sig, dict(params))
        return sig

    def post(name, params, query="", accept=True, send=None, nonce=None, sig_nonce=None,
             key=token, extra_sig=None):
        sig_nonce = sig_nonce or secrets.token_hex(10)
        sig = sign("POST", v.url("plivo-main", query), params, sig_nonce, key)
        if extra_sig:
            sig = f"{extra_sig},{sig}"
        v.case(name, "plivo-main", accept, query=query, content_type=FORM,
               body=encode_form(send if send is not None else params),
               headers={"X-Plivo-Signature-V3": sig,
                        "X-Plivo-Signature-V3-Nonce": nonce or sig_nonce})

    post("plivo hangup", uuid(1))
    post("plivo with a query string", uuid(2), query="tenant=acme&a=1")
    other_sig = base64.b64encode(secrets.token_bytes(32)).decode()
    post("plivo several signatures", uuid(3), extra_sig=other_sig)
    post("plivo changed parameter", uuid(4), accept=False,
         send=with_value(uuid(4), "Duration", "4242"))
    post("plivo wrong nonce", uuid(5), accept=False, nonce="0" * 20, sig_nonce="1" * 20)
    post("plivo wrong auth token", uuid(6), accept=False, key=secrets.token_hex(20))
    v.case("plivo missing signature", "plivo-main", False, content_type=FORM,
           body=encode_form(uuid(7)), headers={"X-Plivo-Signature-V3-Nonce": "12345"})
    get_query = encode_form(uuid(8))
    nonce = secrets.token_hex(10)
    sig = sign("GET", v.url("plivo-main", get_query), {}, nonce)
    v.case("plivo GET", "plivo-main", True, method="GET", query=get_query,
           headers={"X-Plivo-Signature-V3": sig, "X-Plivo-Signature-V3-Nonce": nonce})


def telnyx(v):
    key = nacl.signing.SigningKey.generate()
    public = base64.b64encode(bytes(key.verify_key)).decode()
    v.source("telnyx-main", "telnyx", {"type": "telnyx", "public_key": public})
    v.source("telnyx-tight", "telnyx",
             {"type": "telnyx", "public_key": public, "tolerance_secs": 60})
    template = fixture("telnyx/call_hangup.json")

    def body(n):
        return template.replace("2f1d7c3a-9e6b-4f2e-a1c4-3b5d7e9f0a22",
                                f"2f1d7c3a-0000-4000-8000-{n:012x}")

    def send(name, b, accept, ts=None, signer=key, send_body=None, source="telnyx-main"):
        ts = str(ts if ts is not None else int(time.time()))
        sig = base64.b64encode(signer.sign(f"{ts}|{b}".encode()).signature).decode()
        headers = {"telnyx-signature-ed25519": sig, "telnyx-timestamp": ts}
        if signer is key and abs(int(ts) - time.time()) < 300:
            verify_webhook_signature(b, headers, public)  # Telnyx's own check passes
        v.case(name, source, accept, content_type=JSON,
               body=send_body if send_body is not None else b, headers=headers)

    send("telnyx call.hangup", body(1), True)
    send("telnyx stale timestamp", body(2), False, ts=int(time.time()) - 600)
    send("telnyx future timestamp", body(3), False, ts=int(time.time()) + 600)
    send("telnyx outside a configured tolerance", body(4), False,
         ts=int(time.time()) - 120, source="telnyx-tight")
    send("telnyx changed body", body(5), False, send_body=body(5).replace("caller", "callee"))
    send("telnyx other key", body(6), False, signer=nacl.signing.SigningKey.generate())
    v.case("telnyx missing signature", "telnyx-main", False, content_type=JSON, body=body(7),
           headers={"telnyx-timestamp": str(int(time.time()))})


def vonage(v):
    secret = secrets.token_hex(16)
    v.source("vonage-main", "vonage", {"type": "vonage", "signature_secret": secret})
    template = fixture("vonage/call_completed.json")

    def body(n):
        return template.replace("aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
                                f"aaaaaaaa-0000-4000-8000-{n:012x}")

    def send(name, b, accept, iat=None, key=secret, send_body=None, hash_of=None):
        claims = {
            "iat": iat if iat is not None else int(time.time()),
            "jti": secrets.token_hex(8),
            "iss": "Vonage",
            "api_key": "abcd1234",
            "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
            "payload_hash": hashlib.sha256((hash_of or b).encode()).hexdigest(),
        }
        token = jwt.encode(claims, key, algorithm="HS256")
        if key == secret:
            assert vonage_verify(token, secret)
        v.case(name, "vonage-main", accept, content_type=JSON,
               body=send_body if send_body is not None else b,
               headers={"Authorization": f"Bearer {token}"})

    send("vonage completed", body(1), True)
    send("vonage stale iat", body(2), False, iat=int(time.time()) - 600)
    send("vonage changed body", body(3), False, send_body=body(3).replace('"60"', '"61"'))
    send("vonage wrong secret", body(4), False, key=secrets.token_hex(16))
    v.case("vonage missing token", "vonage-main", False, content_type=JSON, body=body(5))


def aircall(v):
    token = secrets.token_hex(16)
    v.source("aircall-main", "aircall",
             {"type": "body_token", "field": "token", "token": token})
    template = json.loads(fixture("aircall/call_ended.json"))

    def body(n, tok):
        b = dict(template, token=tok)
        b["data"] = dict(template["data"], id=800 + n)
        return json.dumps(b)

    v.case("aircall token in the body", "aircall-main", True, content_type=JSON,
           body=body(1, token))
    v.case("aircall wrong token", "aircall-main", False, content_type=JSON,
           body=body(2, secrets.token_hex(16)))
    no_token = json.loads(body(3, token))
    del no_token["token"]
    v.case("aircall missing token", "aircall-main", False, content_type=JSON,
           body=json.dumps(no_token))


def exotel(v):
    token = secrets.token_hex(16)
    v.source("exotel-main", "exotel", {"type": "token", "token": token, "location": "path"})
    body = fixture("exotel/status_callback.form")
    v.case("exotel token in the URL", "exotel-main", True, content_type=FORM, body=body,
           path_suffix=f"/{token}")
    v.case("exotel wrong token", "exotel-main", False, content_type=FORM, body=body,
           path_suffix=f"/{secrets.token_hex(16)}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    v = Vectors(sys.argv[1])
    for build in (twilio, plivo, telnyx, vonage, aircall, exotel):
        build(v)
    out = {"base_url": v.base, "sources": list(v.sources.values()), "cases": v.cases}
    os.makedirs(os.path.dirname(os.path.abspath(sys.argv[2])), exist_ok=True)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    print(f"{len(v.cases)} signed requests for {len(v.sources)} sources -> {sys.argv[2]}")


if __name__ == "__main__":
    main()
