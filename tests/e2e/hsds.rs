//! HSDS 3.0 directories end to end: a real-shaped community directory (several organizations; IOPs, a
//! trauma IOP, a skills group, peer support, clinicians, a crisis team and a food pantry; schedules,
//! languages, service areas, costs) imports through the gateway (`POST /hsds/import`) and through the CLI
//! (`continuum directory import`) into the four-service stack; a re-import creates nothing; the imported
//! providers are ranked for a fitting client like any other; the export imports back onto the same
//! providers; a generated 1,000-service directory imports whole; a 211 export tagged only with AIRS/211
//! and Open Eligibility terms imports through the taxonomy crosswalk and is matched too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use continuum_auth::Role;
use continuum_proto::common::v1 as common;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;
use serde_json::Value;

use crate::stack::{CLINIC, HttpResponse, PROVIDER_ORG, Stack, http};

const FIXTURE: &str = include_str!("fixtures/hsds_community_directory.json");

async fn import(gw: &str, token: Option<&str>, body: &[u8]) -> HttpResponse {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    http(gw, "POST", "/hsds/import", &headers, body).await.expect("the gateway answers")
}

/// The names of the providers matching ranks for `client` with `fit`, best first.
async fn ranked(stack: &Stack, client: mpb::ClientProfile, fit: mpb::ClientFit) -> Vec<String> {
    let mut m =
        MatchingServiceClient::new(stack.channel_as("matching", CLINIC, &[Role::Clinician]));
    let answer = m
        .recommend_for_client(mpb::RecommendForClientRequest {
            client: Some(client),
            fit: Some(fit),
            top_k: 10,
        })
        .await
        .unwrap()
        .into_inner();
    answer.ranking.unwrap().options.into_iter().map(|o| o.provider.unwrap().display_name).collect()
}

/// An adult in California who speaks `language` and pays with `payment`, at `level`.
fn adult_in_california(
    level: common::LevelOfCare,
    language: &str,
    payment: common::PaymentOption,
) -> mpb::ClientProfile {
    mpb::ClientProfile {
        level_of_care: level as i32,
        age_group: common::AgeGroup::Adult as i32,
        jurisdiction: "US-CA".into(),
        language: language.into(),
        payment_option: payment as i32,
        ..Default::default()
    }
}

/// What matters to the client: these problem domains.
fn fit(domains: &[mpb::ProblemDomain]) -> mpb::ClientFit {
    mpb::ClientFit {
        problem_domains: domains.iter().map(|d| *d as i32).collect(),
        ..Default::default()
    }
}

/// The names of the providers ranked for an adult who needs intensive outpatient care in California,
/// in Spanish, on Medi-Cal.
async fn ranked_for_spanish_speaking_adult_on_medicaid(stack: &Stack) -> Vec<String> {
    let client = adult_in_california(
        common::LevelOfCare::IntensiveOutpatient,
        "es",
        common::PaymentOption::PublicInsurance,
    );
    ranked(stack, client, fit(&[mpb::ProblemDomain::Depression])).await
}

fn field_count(summary: &Value, field: &str) -> u64 {
    summary["unmapped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == field)
        .and_then(|f| f["count"].as_u64())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_community_directory_imports_through_the_gateway_and_is_matched() {
    let mut stack = Stack::start().await;
    let gw = stack.start_gateway().await;
    let admin = stack.backing.token(PROVIDER_ORG, &[Role::ProviderAdmin]);
    let clerk = stack.backing.token(PROVIDER_ORG, &[Role::IntakeClerk]);

    // Who may not, and what cannot be read.
    assert_eq!(import(&gw, None, FIXTURE.as_bytes()).await.status, 401);
    assert_eq!(import(&gw, Some(&clerk), FIXTURE.as_bytes()).await.status, 403);
    assert_eq!(import(&gw, Some(&admin), b"{not json").await.status, 400);
    assert_eq!(import(&gw, Some(&admin), b"{\"a\": 1}").await.status, 400);
    assert_eq!(http(&gw, "GET", "/hsds/export", &[], b"").await.unwrap().status, 401);
    assert_eq!(
        ranked_for_spanish_speaking_adult_on_medicaid(&stack).await,
        Vec::<String>::new(),
        "nothing was imported by the refused calls"
    );

    let r = import(&gw, Some(&admin), FIXTURE.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let s = r.json();
    assert_eq!(s["services"], 9);
    assert_eq!(s["listings"], 10);
    assert_eq!((s["created"].as_u64(), s["refused"].as_u64()), (Some(9), Some(1)), "{s:#}");
    let refused: Vec<&Value> =
        s["items"].as_array().unwrap().iter().filter(|i| i["outcome"] == "refused").collect();
    assert_eq!(refused[0]["name"], "Community Food Pantry");
    assert!(refused[0]["reasons"][0].as_str().unwrap().starts_with("no provider kind"));
    assert_eq!(field_count(&s, "organization.name"), 6);
    assert!(field_count(&s, "location.transportation") > 0);
    assert!(field_count(&s, "attribute (taxonomy \"AIRS/211 LA County\")") > 0);

    // Matched like any other provider: the adult IOP at both sites (and not the adolescent IOP, the
    // English-only or the non-Medi-Cal ones).
    let ranked = ranked_for_spanish_speaking_adult_on_medicaid(&stack).await;
    assert!(
        ranked.contains(&"Adult Intensive Outpatient Program (Bayview Oakland Clinic)".to_owned()),
        "{ranked:?}"
    );
    assert!(ranked.contains(&"Adult Intensive Outpatient Program (Bayview Telehealth)".to_owned()));
    assert!(!ranked.iter().any(|n| n == "Adolescent IOP"), "{ranked:?}");

    // The same file again creates nothing.
    let again = import(&gw, Some(&admin), FIXTURE.as_bytes()).await.json();
    assert_eq!(
        (again["created"].as_u64(), again["updated"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(0), Some(9)),
        "{again:#}"
    );
    // A changed service updates its providers in place.
    let changed = FIXTURE.replace("\"wait_time\": \"7 days\"", "\"wait_time\": \"9 days\"");
    let updated = import(&gw, Some(&admin), changed.as_bytes()).await.json();
    assert_eq!((updated["created"].as_u64(), updated["updated"].as_u64()), (Some(0), Some(2)));

    // The export is HSDS services the import reads back onto the same providers.
    let auth = format!("Bearer {admin}");
    let path = format!("/hsds/export?organization_id={PROVIDER_ORG}");
    let export = http(&gw, "GET", &path, &[("Authorization", &auth)], b"").await.unwrap();
    assert_eq!(export.status, 200);
    let services = export.json();
    assert_eq!(services.as_array().unwrap().len(), 9);
    // The program a service is delivered under is its providers' organization unit, and goes back out
    // as the service's program.
    let programs: Vec<&str> =
        services.as_array().unwrap().iter().filter_map(|s| s["program"]["name"].as_str()).collect();
    assert_eq!(
        programs, ["Intensive Programs"; 3],
        "the adult IOP at two sites and the trauma IOP"
    );
    let back = import(&gw, Some(&admin), &export.body).await.json();
    assert_eq!(
        (back["created"].as_u64(), back["unchanged"].as_u64()),
        (Some(0), Some(9)),
        "{back:#}"
    );
    assert_eq!(back["unmapped"].as_array().unwrap().len(), 0, "{back:#}");
    let page = http(&gw, "GET", "/hsds/services", &[("Authorization", &auth)], b"").await.unwrap();
    assert_eq!(page.json()["total_items"], 9);
}

/// A real 211 export carries no `continuum` attributes, only AIRS/211 codes and Open Eligibility terms.
const EXPORT_211: &str =
    include_str!("../../libs/continuum-hsds/tests/fixtures/hsds_211_export.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_211_export_imports_through_the_taxonomy_crosswalk_and_is_matched() {
    let mut stack = Stack::start().await;
    let gw = stack.start_gateway().await;
    let admin = stack.backing.token(PROVIDER_ORG, &[Role::ProviderAdmin]);
    let r = import(&gw, Some(&admin), EXPORT_211.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let s = r.json();
    assert_eq!((s["created"].as_u64(), s["refused"].as_u64()), (Some(5), Some(1)), "{s:#}");
    let items = s["items"].as_array().unwrap();
    let grief = items.iter().find(|i| i["name"] == "Grief and Loss Counseling").unwrap();
    assert!(
        grief["defaults"].as_array().unwrap().iter().any(|d| d
            .as_str()
            .unwrap()
            .starts_with("kind: clinician (from AIRS RP-1400.8000-100")),
        "what was inferred is named: {grief:#}"
    );
    let pantry = items.iter().find(|i| i["outcome"] == "refused").unwrap();
    assert_eq!(pantry["name"], "Community Food Pantry");
    assert!(pantry["reasons"][0].as_str().unwrap().contains("BD-1800.2000"), "{pantry:#}");

    // Matched like any other provider: an adult in California, Spanish, sliding scale, grieving.
    let client = adult_in_california(
        common::LevelOfCare::Outpatient,
        "es",
        common::PaymentOption::SlidingScale,
    );
    let ranked = ranked(&stack, client, fit(&[mpb::ProblemDomain::Grief])).await;
    assert_eq!(ranked.first().map(String::as_str), Some("Grief and Loss Counseling"), "{ranked:?}");
    assert!(!ranked.iter().any(|n| n == "Teen Counseling"), "an adolescent service: {ranked:?}");
}

/// Runs the CLI with `args`; its standard output.
async fn cli(args: Vec<String>) -> String {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_continuum")).args(&args).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_imports_the_directory_and_a_thousand_generated_services() {
    let stack = Stack::start().await;
    let admin = stack.backing.token(PROVIDER_ORG, &[Role::ProviderAdmin]);
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("directory.json");
    std::fs::write(&fixture, FIXTURE).unwrap();
    let addr = format!("http://{}", stack.addrs["matching"]);
    let import = |file: &std::path::Path| {
        vec![
            "directory".to_owned(),
            "import".to_owned(),
            "--format".to_owned(),
            "hsds".to_owned(),
            file.display().to_string(),
            "--addr".to_owned(),
            addr.clone(),
            "--token".to_owned(),
            admin.clone(),
            "--json".to_owned(),
        ]
    };

    let s: Value = serde_json::from_str(&cli(import(&fixture)).await).unwrap();
    assert_eq!((s["created"].as_u64(), s["refused"].as_u64()), (Some(9), Some(1)), "{s:#}");
    let ranked = ranked_for_spanish_speaking_adult_on_medicaid(&stack).await;
    assert!(
        ranked.iter().any(|n| n.starts_with("Adult Intensive Outpatient Program")),
        "{ranked:?}"
    );
    let s: Value = serde_json::from_str(&cli(import(&fixture)).await).unwrap();
    assert_eq!((s["created"].as_u64(), s["unchanged"].as_u64()), (Some(0), Some(9)));

    // A generated 1,000-service directory, then the same file again.
    let big = dir.path().join("sample.json");
    cli(vec![
        "directory".into(),
        "sample".into(),
        "--services".into(),
        "1000".into(),
        "--out".into(),
        big.display().to_string(),
    ])
    .await;
    let s: Value = serde_json::from_str(&cli(import(&big)).await).unwrap();
    assert_eq!(s["services"], 1000);
    assert_eq!(
        (s["created"].as_u64(), s["refused"].as_u64()),
        (Some(1000), Some(0)),
        "{}",
        s["items"][0]
    );
    let s: Value = serde_json::from_str(&cli(import(&big)).await).unwrap();
    assert_eq!((s["created"].as_u64(), s["unchanged"].as_u64()), (Some(0), Some(1000)));
    let mut m = stack.matching();
    let listed = m
        .list_providers(mpb::ListProvidersRequest {
            organization_id: PROVIDER_ORG.into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.providers.len(), 500);
    assert!(!listed.next_page_token.is_empty(), "1,009 providers: more than one page");

    // The text summary and the export through the CLI.
    let text = cli(import(&fixture).into_iter().filter(|a| a != "--json").collect()).await;
    assert!(
        text.starts_with(
            "9 HSDS services, 10 listings: 0 created, 0 updated, 9 unchanged, 1 refused"
        ),
        "{text}"
    );
    assert!(text.contains("organization.name x6"), "{text}");
    let out = dir.path().join("export.json");
    cli(vec![
        "directory".into(),
        "export".into(),
        "--format".into(),
        "hsds".into(),
        "--org".into(),
        PROVIDER_ORG.into(),
        "--out".into(),
        out.display().to_string(),
        "--addr".into(),
        addr.clone(),
        "--token".into(),
        admin.clone(),
    ])
    .await;
    let exported: Vec<Value> = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(exported.len(), 1009);
}
