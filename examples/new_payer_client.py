"""A new payer's system, end to end: what an integrator writes to use identity's $member-match.

Against `./dev serve` (another terminal), from the repository root:

    .venv/bin/python examples/new_payer_client.py

It does, in order, printing each step:

1. makes an EC P-384 key pair (ES384) and writes the private key and the public key set (JWKS)
   to a folder (`--keys-dir`, default a new temporary folder);
2. registers the client with `identity clients add` (an operator's step: it writes to identity's
   database, so it runs where `IDENTITY_DATABASE_URL` points at it), with the organisation it
   speaks for, which the member's consent must name as recipient;
3. reads identity's discovery document (`/.well-known/smart-configuration`) and its FHIR
   CapabilityStatement (`/fhir/metadata`);
4. signs a client assertion (`iss` = `sub` = the client id, `aud` = the token endpoint identity
   names, five minutes, a fresh `jti`) and trades it for an access token (SMART Backend Services);
5. asks `$member-match` for the member (by default the sample's showcase member, María
   García-López, card S9000000001), with her consent to disclose to this organisation;
6. introspects the match token it got, as a FHIR server does before releasing anything (the
   client was registered with `tokens:introspect` for this demonstration only: in production that
   scope belongs to the FHIR server, and a payer holds `match`);
7. with `--gate-url`, reads the member's Patient record through the gate in front of the old
   payer's FHIR server (`identity gate`), presenting the access token and the match token.

The last line printed is a JSON summary. Only the Python packages identity itself depends on are
used (httpx, PyJWT, cryptography).
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB"}]}
HREX_REGULAR = "http://hl7.org/fhir/us/davinci-hrex/StructureDefinition-hrex-consent.html#regular"
MATCH_TOKEN_HEADER = "X-Match-Token"  # what the gate reads the match token from


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _b64url(number: int, size: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(size, "big")).rstrip(b"=").decode()


def make_key_pair(folder: Path) -> tuple[ec.EllipticCurvePrivateKey, str, Path]:
    """An ES384 key, its key id, and the public key set file to register."""
    key = ec.generate_private_key(ec.SECP384R1())
    numbers = key.public_key().public_numbers()
    kid = uuid.uuid4().hex
    jwk = {
        "kty": "EC",
        "crv": "P-384",
        "x": _b64url(numbers.x, 48),
        "y": _b64url(numbers.y, 48),
        "kid": kid,
        "alg": "ES384",
        "use": "sig",
    }
    folder.mkdir(parents=True, exist_ok=True)
    private = folder / "new-payer-key.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    jwks = folder / "new-payer-jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}, indent=2))
    return key, kid, jwks


def register(cli: str, tenant: str, jwks: Path, organization: str) -> str:
    """`identity clients add`: the client id is the last line it prints."""
    done = subprocess.run(
        [
            cli,
            "clients",
            "add",
            "--tenant",
            tenant,
            "--name",
            "New Health Plan (example)",
            "--jwks",
            str(jwks),
            "--scopes",
            "match tokens:introspect",
            "--organization",
            organization,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"registration failed: {done.stderr.strip()}")
    print(done.stdout.strip())
    return done.stdout.strip().splitlines()[-1]


def client_assertion(key: ec.EllipticCurvePrivateKey, kid: str, client_id: str, aud: str) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": kid, "typ": "JWT"})


def access_token(http: httpx.Client, assertion: str, scope: str) -> dict[str, Any]:
    # identity is reached at its URL; the assertion names the token endpoint it advertises (the
    # two differ behind a proxy).
    r = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    if r.status_code != 200:
        sys.exit(f"token request refused: {r.status_code} {r.text}")
    body: dict[str, Any] = r.json()
    return body


def member_match_request(args: argparse.Namespace) -> dict[str, Any]:
    """HRex $member-match Parameters: the member, our coverage of her, her consent."""
    system, _, value = args.organization.partition("|")
    identifiers = (
        [{"type": MB, "system": "urn:example:old-payer", "value": args.member_id}]
        if args.member_id
        else []
    )
    coverage: dict[str, Any] = {
        "resourceType": "Coverage",
        "status": "active",
        "identifier": identifiers,
        "beneficiary": {"reference": "Patient/1"},
        "payor": [{"display": "Old Health Plan"}],
    }
    if args.subscriber_id:
        coverage["subscriberId"] = args.subscriber_id
    today = date.today()
    consent = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IDSCL"}
                ]
            }
        ],
        "patient": {"reference": "Patient/1"},
        "dateTime": datetime.now(UTC).isoformat(timespec="seconds"),
        "policy": [{"uri": HREX_REGULAR}],
        "provision": {
            "type": "permit",
            "period": {
                "start": (today - timedelta(days=1)).isoformat(),
                "end": (today + timedelta(days=365)).isoformat(),
            },
            "actor": [
                {
                    "role": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": "IRCP",
                            }
                        ]
                    },
                    "reference": {
                        "identifier": {"system": system, "value": value},
                        "display": "New Health Plan",
                    },
                }
            ],
            "action": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/consentaction",
                            "code": "disclose",
                        }
                    ]
                }
            ],
        },
    }
    patient = {
        "resourceType": "Patient",
        "id": "1",
        "name": [{"family": args.family, "given": [args.given]}],
        "gender": args.gender,
        "birthDate": args.birth_date,
    }
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "MemberPatient", "resource": patient},
            {"name": "CoverageToMatch", "resource": coverage},
            {"name": "Consent", "resource": consent},
        ],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--identity-url", default="http://127.0.0.1:8000")
    p.add_argument("--gate-url", help="the gate in front of the old payer's FHIR server")
    p.add_argument("--tenant", default="sample-payer", help="the old payer's tenant in identity")
    p.add_argument(
        "--identity-cli",
        default=str(Path(sys.executable).with_name("identity")),
        help="the `identity` command, for the registration",
    )
    p.add_argument("--keys-dir", type=Path, help="where the key pair is written")
    p.add_argument(
        "--organization",
        default="http://hl7.org/fhir/sid/us-npi|0123456789",
        help="SYSTEM|VALUE of the organisation this client speaks for (the consent's recipient)",
    )
    p.add_argument("--given", default="Maria")
    p.add_argument("--family", default="Garcia Lopez")
    p.add_argument("--birth-date", default="1984-03-12")
    p.add_argument("--gender", default="female")
    p.add_argument("--subscriber-id", default="S9000000001")
    p.add_argument("--member-id", default=None, help="the old payer's member id, when known")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keys_dir = args.keys_dir or Path(tempfile.mkdtemp(prefix="new-payer-"))
    summary: dict[str, Any] = {}

    step(f"1. a key pair (ES384) in {keys_dir}")
    key, kid, jwks = make_key_pair(keys_dir)

    step("2. registering the client (identity clients add)")
    client_id = register(args.identity_cli, args.tenant, jwks, args.organization)
    summary["client_id"] = client_id

    with httpx.Client(base_url=args.identity_url, timeout=30) as http:
        step("3. discovery and the CapabilityStatement")
        smart = http.get("/.well-known/smart-configuration").json()
        print(f"token endpoint {smart['token_endpoint']}, {smart['grant_types_supported']}")
        metadata = http.get("/fhir/metadata").json()
        operations = [
            f"{r['type']}/${o['name']}"
            for rest in metadata["rest"]
            for r in rest["resource"]
            for o in r["operation"]
        ]
        print("operations:", ", ".join(operations))

        step("4. a signed client assertion for an access token")
        assertion = client_assertion(key, kid, client_id, smart["token_endpoint"])
        token = access_token(http, assertion, "match tokens:introspect")
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        print(f"access token for {token['scope']}, {token['expires_in']} s")

        step("5. $member-match")
        r = http.post(
            "/fhir/Patient/$member-match",
            json=member_match_request(args),
            headers={**bearer, "Content-Type": "application/fhir+json"},
        )
        summary["member_match_status"] = r.status_code
        if r.status_code != 200:
            print(json.dumps(r.json(), indent=2))
            print(json.dumps(summary))
            return 1
        identifier = next(
            p["valueIdentifier"] for p in r.json()["parameter"] if p["name"] == "MemberIdentifier"
        )
        match_token = identifier["value"]
        print("matched: a match token of type", identifier["type"]["coding"][0]["code"])

        step("6. introspecting the match token (what the FHIR server's gate does)")
        r = http.post("/v1/tokens/introspect", data={"token": match_token}, headers=bearer)
        introspected = r.json()
        shown = ("active", "patient_id", "consent_category", "consent_period", "policy_version")
        print(json.dumps({k: introspected.get(k) for k in shown}, indent=2))
        summary["active"] = introspected["active"]
        summary["patient_id"] = introspected.get("patient_id")

    if args.gate_url and summary["patient_id"]:
        step("7. the member's record through the gate")
        with httpx.Client(base_url=args.gate_url, timeout=30) as gate:
            r = gate.get(
                f"/Patient/{summary['patient_id']}",
                headers={**bearer, MATCH_TOKEN_HEADER: match_token},
            )
        summary["gate_status"] = r.status_code
        print(f"HTTP {r.status_code}: {r.json().get('resourceType')}")
    print(json.dumps(summary))
    return 0 if summary["active"] and summary.get("gate_status", 200) == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
