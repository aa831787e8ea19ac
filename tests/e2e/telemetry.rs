//! Ops can follow one intake: an OTLP trace receiver runs inside the test, the four services export to
//! it as separate processes, and one submitted intake arrives as one trace with the intake → matching →
//! referral chain. The same run checks that no personal health information reaches a span or a log line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as ipb;
use continuum_proto::matching::v1 as mpb;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;

use crate::stack::{CLINIC, Stack, eventually};

#[derive(Clone, Debug)]
struct ReceivedSpan {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    attributes: Vec<String>,
}

#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|a| a.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(&self, req: tonic::Request<ExportTraceServiceRequest>) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut out = self.spans.lock().unwrap();
        for rs in req.into_inner().resource_spans {
            let service = rs
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                .map(|a| text(&a.value))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    out.push(ReceivedSpan {
                        service: service.clone(),
                        name: s.name.clone(),
                        trace_id: s.trace_id.clone(),
                        span_id: s.span_id.clone(),
                        parent_span_id: s.parent_span_id.clone(),
                        attributes: s.attributes.iter().map(|a| format!("{}={}", a.key, text(&a.value))).collect(),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

/// Whether `ancestor` is `span` or one of its parents among the received spans.
fn descends_from(spans: &[ReceivedSpan], span: &ReceivedSpan, ancestor: &ReceivedSpan) -> bool {
    let by_id: HashMap<&[u8], &ReceivedSpan> = spans.iter().map(|s| (s.span_id.as_slice(), s)).collect();
    let mut cur = Some(span);
    let mut hops = 0;
    while let Some(s) = cur {
        if s.span_id == ancestor.span_id {
            return true;
        }
        hops += 1;
        if hops > 64 {
            return false;
        }
        cur = by_id.get(s.parent_span_id.as_slice()).copied();
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_intake_is_one_trace_across_the_four_services_and_carries_no_phi() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = listener.local_addr().unwrap();
    let server = receiver.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(server))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    let stack = Stack::start_with(vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), format!("http://{otlp}")),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
        ("CONTINUUM_SWEEP_INTERVAL_SECS".into(), "1".into()),
        ("CONTINUUM_DEADLINE_SWEEP_SECS".into(), "1".into()),
    ])
    .await;

    let provider = crate::stack::clinician("Dr Traced", 3);
    stack.matching().upsert_provider(mpb::UpsertProviderRequest { provider: Some(provider), expected_version: 0 }).await.unwrap();

    // Distinctive personal information that must appear nowhere but in the answer.
    let secrets = ["Xanthippe", "Quillfeather", "xq.private@example.org", "+1 555 013 2468", "1979-03-17", "my-distinctive-free-text-5521"];
    let req = ipb::SubmitIntakeRequest {
        idempotency_key: "trace-1".into(),
        organization_id: CLINIC.into(),
        client: Some(ipb::ClientDetails {
            given_name: secrets[0].into(),
            family_name: secrets[1].into(),
            date_of_birth: Some(common::Date { year: 1979, month: 3, day: 17 }),
            email: secrets[2].into(),
            phone: secrets[3].into(),
            preferred_language: "en".into(),
            jurisdiction: "US-CA".into(),
            payment_option: common::PaymentOption::SelfPay as i32,
            ..Default::default()
        }),
        presenting_concerns_text: secrets[5].into(),
        screeners: Some(ipb::Screeners { phq9: Some(ipb::Phq9 { items: vec![2, 2, 1, 1, 1, 1, 1, 2, 0] }), ..Default::default() }),
        consent: Some(ipb::Consent { share_with_referral_recipient: true }),
        ..Default::default()
    };
    let intake = stack.intake().submit_intake(req).await.unwrap().into_inner().intake.unwrap();
    assert_eq!(intake.routing.unwrap().status, ipb::RoutingStatus::Referred as i32);
    // A bad request too: its error must not echo what was sent.
    let mut bad = ipb::SubmitIntakeRequest { idempotency_key: "trace-2".into(), organization_id: CLINIC.into(), ..Default::default() };
    bad.client = Some(ipb::ClientDetails { given_name: secrets[0].into(), email: "Quillfeather-not-an-email".into(), ..Default::default() });
    let err = stack.intake().submit_intake(bad).await.unwrap_err();
    for s in secrets.iter().chain(["Quillfeather-not-an-email"].iter()) {
        assert!(!err.message().contains(s), "error message echoes {s}");
    }

    let wanted = [
        ("intake", "continuum.intake.v1.IntakeService/SubmitIntake"),
        ("matching", "continuum.matching.v1.MatchingService/RecommendForClient"),
        ("referral", "continuum.referral.v1.ReferralService/CreateReferral"),
        ("matching", "continuum.matching.v1.MatchingService/UpdateCapacity"),
    ];
    let spans = eventually(Duration::from_secs(20), || {
        let spans = receiver.spans.lock().unwrap().clone();
        async move { wanted.iter().all(|(svc, name)| spans.iter().any(|s| s.service == *svc && s.name == *name)).then_some(spans) }
    })
    .await
    .unwrap_or_else(|| {
        let got: Vec<(String, String)> = receiver.spans.lock().unwrap().iter().map(|s| (s.service.clone(), s.name.clone())).collect();
        panic!("missing spans; received {got:?}")
    });
    let find = |svc: &str, name: &str| spans.iter().find(|s| s.service == svc && s.name == name).unwrap().clone();
    let submit = find("intake", wanted[0].1);
    let recommend = find("matching", wanted[1].1);
    let create = find("referral", wanted[2].1);
    let take = find("matching", wanted[3].1);
    for s in [&recommend, &create, &take] {
        assert_eq!(s.trace_id, submit.trace_id, "{} is in the intake's trace", s.name);
    }
    assert!(descends_from(&spans, &recommend, &submit), "matching's span is a child of intake's");
    assert!(descends_from(&spans, &create, &submit), "referral's span is a child of intake's");
    assert!(descends_from(&spans, &take, &create), "the capacity take is a child of the referral");

    let mut exported = String::new();
    for s in receiver.spans.lock().unwrap().iter() {
        exported.push_str(&s.name);
        for a in &s.attributes {
            exported.push_str(a);
        }
    }
    // The business gauges appear once each worker has run.
    let gauges = [("intake", "continuum_routings_pending"), ("waitlist", "continuum_offers_pending"), ("referral", "continuum_referrals_overdue")];
    let metrics_addrs = stack.metrics.clone();
    let seen = eventually(Duration::from_secs(20), || {
        let addrs = metrics_addrs.clone();
        async move {
            for (svc, name) in gauges {
                if !crate::stack::scrape(&addrs[svc]).await.contains(name) {
                    return None;
                }
            }
            Some(())
        }
    })
    .await;
    assert!(seen.is_some(), "business gauges are exported: {gauges:?}");
    let logs: String = crate::stack::SERVICES.iter().map(|s| stack.log(s)).collect();
    let mut scraped = String::new();
    for s in crate::stack::SERVICES {
        scraped.push_str(&crate::stack::scrape(&stack.metrics[s]).await);
    }
    assert!(
        scraped.contains("grpc_server_requests_total{") && scraped.contains("method=\"SubmitIntake\""),
        "per-RPC metrics are scraped"
    );
    assert!(logs.contains("trace_id"), "log lines carry trace ids");
    for s in secrets {
        assert!(!exported.contains(s), "{s} found in an exported span");
        assert!(!logs.contains(s), "{s} found in a log line");
        assert!(!scraped.contains(s), "{s} found in a metric");
    }
}
