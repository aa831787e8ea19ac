"""Smoke test of the FHIR R4 edge of a running `continuum up --demo`, with an independent validator.

Every resource the gateway returns is validated by `fhir.resources` 6.4.0 (the FHIR R4 4.0.1 models, pydantic
1: unknown elements, missing required elements and malformed primitives are refused), and the closed loop is
walked as a FHIR-only client would: the capability statement, the five Questionnaires, an intake Bundle that
is referred, one on the crisis pathway, the Task read, searched and moved on by its owner (JSON Patch with
If-Match), and the error answers (a bad answer, a stale version, another organization's Task).

    CONTINUUM_TOKEN=<Harbor intake token> CONTINUUM_ORG_TOKENS=<org id>=<coordinator token>,... \
        python smoke_fhir.py HOST:PORT
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

from fhir.resources import construct_fhir_element

BASE = f"http://{sys.argv[1]}"
HARBOR = "0190d5a0-0000-7000-8000-000000000001"
CANONICAL = "https://continuum.example.org/fhir"
VALIDATED: dict[str, int] = {}


def call(method: str, path: str, token: str | None = None, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/fhir+json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"null")


def valid(resource: dict) -> dict:
    """Validates `resource` (and, through the model, everything it contains) as FHIR R4."""
    construct_fhir_element(resource["resourceType"], resource)
    VALIDATED[resource["resourceType"]] = VALIDATED.get(resource["resourceType"], 0) + 1
    return resource


def check(cond: bool, what: str) -> None:
    if not cond:
        print(f"smoke_fhir: FAIL {what}", file=sys.stderr)
        sys.exit(1)


def bundle(key: str, questionnaire: str, items: list[dict]) -> dict:
    return {
        "resourceType": "Bundle", "type": "transaction",
        "identifier": {"system": "urn:example:smoke", "value": key},
        "entry": [
            {"fullUrl": "urn:uuid:2f1d0c3e-0000-4000-8000-000000000001", "request": {"method": "POST", "url": "Patient"},
             "resource": {"resourceType": "Patient", "name": [{"given": ["Smoke"], "family": "Test"}],
                          "birthDate": "1991-02-03", "address": [{"country": "US", "state": "CA"}],
                          "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}]}}],
                          "extension": [{"url": f"{CANONICAL}/StructureDefinition/payment-option", "valueCode": "self-pay"}]}},
            {"request": {"method": "POST", "url": "QuestionnaireResponse"},
             "resource": {"resourceType": "QuestionnaireResponse", "status": "completed",
                          "questionnaire": f"{CANONICAL}/Questionnaire/{questionnaire}", "item": items}},
            {"request": {"method": "POST", "url": "Consent"},
             "resource": {"resourceType": "Consent", "status": "active",
                          "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
                          "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                          "provision": {"type": "permit"}}},
        ],
    }


def phq9(values: list[int]) -> list[dict]:
    return [{"linkId": str(i + 1), "answer": [{"valueInteger": v}]} for i, v in enumerate(values)]


def main() -> None:
    harbor = os.environ["CONTINUUM_TOKEN"]
    tokens = dict(pair.split("=", 1) for pair in os.environ["CONTINUUM_ORG_TOKENS"].split(",") if pair)

    status, headers, cs = call("GET", "/fhir/metadata")
    check(status == 200 and headers.get("Content-Type", "").startswith("application/fhir+json"), f"metadata {status}")
    valid(cs)
    check(cs["fhirVersion"] == "4.0.1", "fhirVersion")
    for q in ("phq-9", "gad-7", "pcl-5", "c-ssrs-screener", "readiness-ruler"):
        status, _, body = call("GET", f"/fhir/Questionnaire/{q}")
        check(status == 200, f"Questionnaire {q}: {status}")
        valid(body)
    status, _, body = call("GET", "/fhir/Questionnaire")
    check(status == 200, "Questionnaire search")
    valid(body)

    # Referred (or waitlisted) intake.
    status, _, answer = call("POST", "/fhir", harbor, bundle("smoke-fhir-1", "phq-9", phq9([2, 2, 1, 1, 1, 1, 1, 2, 0])))
    check(status == 200, f"intake Bundle: {status} {answer}")
    valid(answer)
    check(answer["type"] == "transaction-response", "transaction-response")
    kinds = [e.get("resource", {}).get("resourceType") for e in answer["entry"]]
    check("ServiceRequest" in kinds and ("Task" in kinds or "Appointment" in kinds), f"routed: {kinds}")

    # Crisis pathway: C-SSRS intent with a plan.
    cssrs = [{"linkId": str(n), "answer": [{"valueBoolean": n in (1, 2, 3, 5)}]} for n in range(1, 7)]
    status, _, crisis = call("POST", "/fhir", harbor, bundle("smoke-fhir-crisis", "c-ssrs-screener", cssrs))
    check(status == 200, f"crisis Bundle: {status} {crisis}")
    valid(crisis)
    crisis_kinds = [e.get("resource", {}).get("resourceType") for e in crisis["entry"]]
    check("CommunicationRequest" in crisis_kinds, f"crisis resources: {crisis_kinds}")

    task = next((e["resource"] for e in answer["entry"] if e.get("resource", {}).get("resourceType") == "Task"), None)
    if task is None:
        task = next((e["resource"] for e in crisis["entry"] if e.get("resource", {}).get("resourceType") == "Task"), None)
    check(task is not None, "a Task from one of the two intakes")
    owner = task["owner"]["reference"].split("/")[1]
    owner_token = tokens.get(owner)
    check(owner_token is not None, f"a token for the owner {owner}")
    status, headers, read = call("GET", f"/fhir/Task/{task['id']}", owner_token)
    check(status == 200, f"Task read {status}")
    valid(read)
    etag = headers.get("ETag")
    status, _, found = call("GET", f"/fhir/Task?owner=Organization/{owner}", owner_token)
    check(status == 200, f"Task search {status}")
    valid(found)
    check(any(e["resource"]["id"] == task["id"] for e in found.get("entry", [])), "the Task is found")
    patch = [{"op": "replace", "path": "/status", "value": "accepted"}]
    status, headers, accepted = call("PATCH", f"/fhir/Task/{task['id']}", owner_token, patch,
                                     {"If-Match": etag, "Content-Type": "application/json-patch+json"})
    check(status == 200 and accepted["status"] == "accepted", f"accept: {status} {accepted}")
    valid(accepted)
    status, _, stale = call("PATCH", f"/fhir/Task/{task['id']}", owner_token, patch,
                            {"If-Match": etag, "Content-Type": "application/json-patch+json"})
    check(status == 412, f"stale If-Match: {status}")
    valid(stale)

    # Errors are OperationOutcomes at the element at fault.
    status, _, bad = call("POST", "/fhir", harbor, bundle("smoke-fhir-bad", "phq-9", phq9([2, 2, 1, 1, 7, 1, 1, 2, 0])))
    check(status == 422, f"bad answer: {status}")
    valid(bad)
    check(bad["issue"][0]["expression"] == ["Bundle.entry[1].resource.item[4].answer[0]"], f"expression {bad}")
    status, _, missing = call("GET", "/fhir/Task/0190d5a0-0000-7000-8000-00000000dead", harbor)
    check(status == 404, f"unknown Task: {status}")
    valid(missing)
    status, _, anonymous = call("GET", f"/fhir/Task/{task['id']}")
    check(status == 401, f"no token: {status}")
    valid(anonymous)

    print("smoke_fhir: OK, validated as FHIR R4 by fhir.resources:",
          ", ".join(f"{k} x{v}" for k, v in sorted(VALIDATED.items())))


if __name__ == "__main__":
    main()
