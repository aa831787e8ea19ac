//! The FHIR R4 edge end to end: the gateway as its own process (`continuum serve gateway`) in front of the
//! four service processes, called over plain HTTP/1.1 by a client that knows only FHIR. A clinic posts an
//! intake Bundle, reads the resulting Task, and the recipient organization moves it to completed; errors
//! come back as OperationOutcomes at the element at fault. Every resource the gateway returns is parsed
//! strictly into the typed R4(B) model of `fhir-model` and must serialize back to exactly the JSON received
//! (an element the model does not know, or of the wrong type, fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_auth::Role;
use continuum_proto::matching::v1 as mpb;
use serde_json::{Value, json};

use crate::stack::{CLINIC, HttpResponse, PROVIDER_ORG, Stack, clinician, http};

/// An organization that is neither party to the referral.
const OTHER_ORG: &str = "0190d5a0-0000-7000-8000-0000000000c9";

/// Parses `resource` strictly: the typed model must accept it and give back exactly the same JSON.
fn strictly_valid(resource: &Value) {
    let parsed: fhir_model::r4b::resources::Resource = serde_json::from_value(resource.clone())
        .unwrap_or_else(|e| panic!("not a valid FHIR resource ({e}): {resource:#}"));
    let back = serde_json::to_value(&parsed).unwrap();
    assert_eq!(&back, resource, "the model does not give back the same resource");
}

fn fhir_json(r: &HttpResponse) -> Value {
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("application/fhir+json"), "content-type {ct}");
    let v = r.json();
    strictly_valid(&v);
    v
}

/// An intake Bundle for the clinic: PHQ-9 answers as given, consent to share with the recipient.
fn intake_bundle(key: &str, phq9: &[i32]) -> Value {
    let items: Vec<Value> = phq9
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"linkId": (i + 1).to_string(), "answer": [{"valueInteger": v}]}))
        .collect();
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "identifier": {"system": "urn:example:clinic-intake", "value": key},
        "entry": [
            {"fullUrl": "urn:uuid:5b6c1c1e-0000-4000-8000-000000000001",
             "request": {"method": "POST", "url": "Patient"},
             "resource": {
                "resourceType": "Patient",
                "name": [{"given": ["Robin"], "family": "Fhir"}],
                "birthDate": "1988-09-03",
                "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}]}, "preferred": true}],
                "address": [{"country": "US", "state": "CA"}],
                "managingOrganization": {"reference": format!("Organization/{CLINIC}")},
                "extension": [{"url": "https://continuum.example.org/fhir/StructureDefinition/payment-option", "valueCode": "self-pay"}]
             }},
            {"request": {"method": "POST", "url": "QuestionnaireResponse"},
             "resource": {
                "resourceType": "QuestionnaireResponse",
                "status": "completed",
                "questionnaire": "https://continuum.example.org/fhir/Questionnaire/phq-9",
                "subject": {"reference": "urn:uuid:5b6c1c1e-0000-4000-8000-000000000001"},
                "item": items
             }},
            {"request": {"method": "POST", "url": "Consent"},
             "resource": {
                "resourceType": "Consent",
                "status": "active",
                "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
                "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                "provision": {"type": "permit"}
             }}
        ]
    })
}

async fn call(
    gw: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<&Value>,
) -> HttpResponse {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
    if body.is_some() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        headers.push(("Content-Type", "application/fhir+json"));
    }
    http(gw, method, path, &headers, &bytes).await.expect("the gateway answers")
}

fn entries_of(bundle: &Value) -> Vec<Value> {
    bundle["entry"].as_array().cloned().unwrap_or_default()
}

fn resource_of(bundle: &Value, kind: &str) -> Option<Value> {
    entries_of(bundle)
        .into_iter()
        .find(|e| e["resource"]["resourceType"] == kind)
        .map(|e| e["resource"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intake_bundle_becomes_a_task_the_recipient_completes() {
    let mut stack = Stack::start().await;
    let gw = stack.start_gateway().await;
    let clinic =
        stack.backing.token(CLINIC, &[Role::IntakeClerk, Role::Clinician, Role::Coordinator]);
    let provider = stack.backing.token(PROVIDER_ORG, &[Role::Coordinator]);
    let other = stack.backing.token(OTHER_ORG, &[Role::Coordinator, Role::Clinician]);
    stack
        .matching()
        .upsert_provider(mpb::UpsertProviderRequest {
            provider: Some(clinician("Dr Fhir", 2)),
            expected_version: 0,
        })
        .await
        .unwrap();

    // What the server can do, and the instrument a form renders.
    let metadata = call(&gw, "GET", "/fhir/metadata", None, &[], None).await;
    assert_eq!(metadata.status, 200);
    let cs = fhir_json(&metadata);
    assert_eq!(cs["fhirVersion"], "4.0.1");
    let listed: Vec<&str> = cs["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["Questionnaire", "ServiceRequest", "Task"]);
    for id in ["phq-9", "gad-7", "pcl-5", "c-ssrs-screener", "readiness-ruler"] {
        let q = call(&gw, "GET", &format!("/fhir/Questionnaire/{id}"), None, &[], None).await;
        assert_eq!(q.status, 200, "{id}");
        assert_eq!(fhir_json(&q)["id"], id);
    }
    let phq9 = fhir_json(&call(&gw, "GET", "/fhir/Questionnaire/phq-9", None, &[], None).await);
    assert_eq!(phq9["code"][0]["code"], "44249-1");
    assert_eq!(call(&gw, "GET", "/fhir/Questionnaire/beck", None, &[], None).await.status, 404);

    // Without a token, nothing.
    let bundle = intake_bundle("fhir-e2e-1", &[2, 2, 1, 1, 1, 1, 1, 2, 0]);
    let anonymous = call(&gw, "POST", "/fhir", None, &[], Some(&bundle)).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(fhir_json(&anonymous)["issue"][0]["code"], "login");

    // The clinic posts the intake: a referral, as a Task owned by the provider organization.
    let posted = call(&gw, "POST", "/fhir", Some(&clinic), &[], Some(&bundle)).await;
    assert_eq!(posted.status, 200, "{}", String::from_utf8_lossy(&posted.body));
    let answer = fhir_json(&posted);
    assert_eq!(answer["type"], "transaction-response");
    let entries = entries_of(&answer);
    assert_eq!(entries[0]["response"]["status"], "201 Created");
    assert!(entries[0]["response"]["location"].as_str().unwrap().starts_with("Patient/"));
    let sr = resource_of(&answer, "ServiceRequest").expect("a ServiceRequest");
    assert_eq!(sr["code"]["coding"][0]["code"], "outpatient");
    let task = resource_of(&answer, "Task").expect("the referral as a Task");
    assert_eq!(task["status"], "requested");
    assert_eq!(task["intent"], "order");
    assert_eq!(task["owner"]["reference"], format!("Organization/{PROVIDER_ORG}"));
    assert_eq!(task["requester"]["reference"], format!("Organization/{CLINIC}"));
    assert_eq!(
        task["focus"]["reference"],
        format!("ServiceRequest/{}", sr["id"].as_str().unwrap())
    );
    let task_id = task["id"].as_str().unwrap().to_owned();
    assert!(resource_of(&answer, "CommunicationRequest").is_none(), "no crisis pathway here");

    // The same Bundle again is the same intake and the same Task, never a second routing.
    let again = fhir_json(&call(&gw, "POST", "/fhir", Some(&clinic), &[], Some(&bundle)).await);
    assert_eq!(entries_of(&again)[0]["response"]["status"], "200 OK");
    assert_eq!(resource_of(&again, "Task").unwrap()["id"], task_id.as_str());

    // The recipient finds it among the Tasks it owns, and reads it with its version.
    let found = call(
        &gw,
        "GET",
        &format!("/fhir/Task?owner=Organization/{PROVIDER_ORG}&status=requested"),
        Some(&provider),
        &[],
        None,
    )
    .await;
    assert_eq!(found.status, 200, "{}", String::from_utf8_lossy(&found.body));
    let searchset = fhir_json(&found);
    assert_eq!(searchset["type"], "searchset");
    assert!(entries_of(&searchset).iter().any(|e| e["resource"]["id"] == task_id.as_str()));
    let path = format!("/fhir/Task/{task_id}");
    let read = call(&gw, "GET", &path, Some(&provider), &[], None).await;
    assert_eq!(read.status, 200);
    let etag = read.header("etag").unwrap().to_owned();
    assert_eq!(
        fhir_json(&read)["meta"]["versionId"],
        etag.trim_start_matches("W/").trim_matches('"')
    );

    // Another organization's Task does not exist for it.
    let foreign = call(&gw, "GET", &path, Some(&other), &[], None).await;
    assert_eq!(foreign.status, 404);
    assert_eq!(fhir_json(&foreign)["issue"][0]["code"], "not-found");

    // The recipient accepts (JSON Patch at the version read)...
    let patch = |status: &str| json!([{"op": "replace", "path": "/status", "value": status}]);
    let patch_headers = |etag: &str| {
        vec![
            ("Content-Type", "application/json-patch+json".to_owned()),
            ("If-Match", etag.to_owned()),
        ]
    };
    let send_patch = |etag: String, status: &'static str| {
        let gw = gw.clone();
        let provider = provider.clone();
        let path = path.clone();
        let body = patch(status);
        async move {
            let h = patch_headers(&etag);
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            call(&gw, "PATCH", &path, Some(&provider), &h, Some(&body)).await
        }
    };
    let accepted = send_patch(etag.clone(), "accepted").await;
    assert_eq!(accepted.status, 200, "{}", String::from_utf8_lossy(&accepted.body));
    assert_eq!(fhir_json(&accepted)["status"], "accepted");
    let accepted_etag = accepted.header("etag").unwrap().to_owned();
    assert_ne!(accepted_etag, etag);

    // ... a change at the old version is refused ...
    let stale = send_patch(etag.clone(), "in-progress").await;
    assert_eq!(stale.status, 412, "{}", String::from_utf8_lossy(&stale.body));
    fhir_json(&stale);
    // ... and a change without If-Match is not made.
    let blind = call(
        &gw,
        "PATCH",
        &path,
        Some(&provider),
        &[("Content-Type", "application/json-patch+json")],
        Some(&patch("in-progress")),
    )
    .await;
    assert_eq!(blind.status, 428);

    // First appointment attended (the loop closes), then care completed.
    let in_progress = send_patch(accepted_etag, "in-progress").await;
    assert_eq!(in_progress.status, 200, "{}", String::from_utf8_lossy(&in_progress.body));
    let t = fhir_json(&in_progress);
    assert_eq!(t["status"], "in-progress");
    assert_eq!(t["businessStatus"]["coding"][0]["code"], "first-appointment-attended");
    let completed = send_patch(in_progress.header("etag").unwrap().to_owned(), "completed").await;
    assert_eq!(completed.status, 200, "{}", String::from_utf8_lossy(&completed.body));
    assert_eq!(fhir_json(&completed)["status"], "completed");

    // The referrer reads the closed loop.
    let seen = call(&gw, "GET", &path, Some(&clinic), &[], None).await;
    assert_eq!(fhir_json(&seen)["status"], "completed");
    let sr_read = call(
        &gw,
        "GET",
        &format!("/fhir/ServiceRequest/{}", sr["id"].as_str().unwrap()),
        Some(&clinic),
        &[],
        None,
    )
    .await;
    assert_eq!(sr_read.status, 200);
    assert_eq!(fhir_json(&sr_read)["id"], sr["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answers_come_back_at_the_element_that_carried_them() {
    let mut stack = Stack::start().await;
    let gw = stack.start_gateway().await;
    let clinic =
        stack.backing.token(CLINIC, &[Role::IntakeClerk, Role::Clinician, Role::Coordinator]);

    // PHQ-9 item 5 answered 7: intake refuses screeners.phq9.items[4]; the issue names the answer.
    let bad = intake_bundle("fhir-e2e-bad", &[2, 2, 1, 1, 7, 1, 1, 2, 0]);
    let refused = call(&gw, "POST", "/fhir", Some(&clinic), &[], Some(&bad)).await;
    assert_eq!(refused.status, 422, "{}", String::from_utf8_lossy(&refused.body));
    let outcome = fhir_json(&refused);
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    let expressions: Vec<&str> = outcome["issue"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["expression"][0].as_str())
        .collect();
    assert_eq!(expressions, ["Bundle.entry[1].resource.item[4].answer[0]"], "{outcome:#}");

    // A birth date and a payment option intake refuses, both named.
    let mut worse = intake_bundle("fhir-e2e-worse", &[1; 9]);
    worse["entry"][0]["resource"]["birthDate"] = json!("2090-01-01");
    worse["entry"][0]["resource"].as_object_mut().unwrap().remove("extension");
    let refused = call(&gw, "POST", "/fhir", Some(&clinic), &[], Some(&worse)).await;
    assert_eq!(refused.status, 422);
    let outcome = fhir_json(&refused);
    let expressions: Vec<&str> = outcome["issue"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["expression"][0].as_str())
        .collect();
    assert!(expressions.contains(&"Bundle.entry[0].resource.birthDate"), "{outcome:#}");
    assert!(expressions.contains(&"Bundle.entry[0].resource.extension"), "{outcome:#}");

    // An item missing is the gateway's own 400 (never guessed), an answer of the wrong type too.
    let mut missing = intake_bundle("fhir-e2e-missing", &[1; 9]);
    missing["entry"][1]["resource"]["item"].as_array_mut().unwrap().pop();
    missing["entry"][1]["resource"]["item"][0]["answer"][0] = json!({"valueString": "often"});
    let refused = call(&gw, "POST", "/fhir", Some(&clinic), &[], Some(&missing)).await;
    assert_eq!(refused.status, 400);
    let outcome = fhir_json(&refused);
    let expressions: Vec<&str> = outcome["issue"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["expression"][0].as_str())
        .collect();
    assert!(expressions.contains(&"Bundle.entry[1].resource.item"), "{outcome:#}");
    assert!(expressions.contains(&"Bundle.entry[1].resource.item[0].answer[0]"), "{outcome:#}");

    // Not JSON, and not a Bundle.
    let garbage = http(
        &gw,
        "POST",
        "/fhir",
        &[
            ("Authorization", &format!("Bearer {clinic}")),
            ("Content-Type", "application/fhir+json"),
        ],
        b"{not json",
    )
    .await
    .unwrap();
    assert_eq!(garbage.status, 400);
    assert_eq!(fhir_json(&garbage)["issue"][0]["code"], "structure");
    let patient_only = json!({"resourceType": "Patient"});
    assert_eq!(
        call(&gw, "POST", "/fhir", Some(&clinic), &[], Some(&patient_only)).await.status,
        400
    );

    // The gateway reports its upstreams; with referral down it says so, and answers 503 (transient).
    let health = http(&gw, "GET", "/healthz", &[], b"").await.unwrap();
    assert_eq!(health.status, 200);
    let h = health.json();
    for s in ["intake", "matching", "referral", "waitlist"] {
        assert_eq!(h["upstreams"][s], "SERVING", "{h}");
    }
    stack.stop_service("referral").await;
    let health = http(&gw, "GET", "/healthz", &[], b"").await.unwrap();
    assert_eq!(health.status, 503);
    let h = health.json();
    assert_ne!(h["upstreams"]["referral"], "SERVING", "{h}");
    assert_eq!(h["upstreams"]["intake"], "SERVING", "{h}");
    let unavailable = call(
        &gw,
        "GET",
        "/fhir/Task/0190d5a0-0000-7000-8000-0000000000aa",
        Some(&clinic),
        &[],
        None,
    )
    .await;
    assert_eq!(unavailable.status, 503, "{}", String::from_utf8_lossy(&unavailable.body));
    assert_eq!(fhir_json(&unavailable)["issue"][0]["code"], "transient");

    // Nothing was accepted: no intake exists for the clinic.
    let intakes = stack
        .intake()
        .list_intakes(continuum_proto::intake::v1::ListIntakesRequest {
            organization_id: CLINIC.into(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .intakes;
    assert!(intakes.is_empty(), "refused Bundles store nothing");
}
