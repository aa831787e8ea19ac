//! Ops can follow one intake: an OTLP receiver (traces and metrics) runs inside the test, the four
//! services export to it as separate processes, and one submitted intake arrives as one trace with the
//! intake server → intake client → matching / referral server chain, gRPC status codes on the spans, and
//! the per-RPC and business metrics of every service under its `service.name`. A capacity release that the
//! outbox worker delivers later (matching was down) joins the trace of the request that caused it. The same
//! run checks that no personal health information reaches a span, a log line or a metric.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as ipb;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::referral::v1 as rpb;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use crate::stack::{CLINIC, Stack, eventually};

#[derive(Clone, Debug)]
struct ReceivedSpan {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    kind: i32,
    status: i32,
    attributes: Vec<String>,
}

impl ReceivedSpan {
    fn has(&self, attribute: &str) -> bool {
        self.attributes.iter().any(|a| a == attribute)
    }
}

/// One data point of one exported metric.
#[derive(Clone, Debug)]
struct ReceivedMetric {
    service: String,
    name: String,
    attributes: Vec<String>,
}

#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    metrics: Arc<Mutex<Vec<ReceivedMetric>>>,
}

fn service_name(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    resource
        .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
        .map(|a| text(&a.value))
        .unwrap_or_default()
}

fn pairs(attributes: &[KeyValue]) -> Vec<String> {
    attributes.iter().map(|a| format!("{}={}", a.key, text(&a.value))).collect()
}

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|a| a.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut out = self.spans.lock().unwrap();
        for rs in req.into_inner().resource_spans {
            let service = service_name(rs.resource.as_ref());
            for ss in rs.scope_spans {
                for s in ss.spans {
                    out.push(ReceivedSpan {
                        service: service.clone(),
                        name: s.name.clone(),
                        trace_id: s.trace_id.clone(),
                        span_id: s.span_id.clone(),
                        parent_span_id: s.parent_span_id.clone(),
                        kind: s.kind,
                        status: s.status.as_ref().map_or(0, |st| st.code),
                        attributes: pairs(&s.attributes),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        req: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let mut out = self.metrics.lock().unwrap();
        for rm in req.into_inner().resource_metrics {
            let service = service_name(rm.resource.as_ref());
            for sm in rm.scope_metrics {
                for m in sm.metrics {
                    let points: Vec<Vec<String>> = match &m.data {
                        Some(Data::Sum(d)) => {
                            d.data_points.iter().map(|p| pairs(&p.attributes)).collect()
                        }
                        Some(Data::Gauge(d)) => {
                            d.data_points.iter().map(|p| pairs(&p.attributes)).collect()
                        }
                        Some(Data::Histogram(d)) => {
                            d.data_points.iter().map(|p| pairs(&p.attributes)).collect()
                        }
                        _ => vec![Vec::new()],
                    };
                    for attributes in points {
                        out.push(ReceivedMetric {
                            service: service.clone(),
                            name: m.name.clone(),
                            attributes,
                        });
                    }
                }
            }
        }
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

/// The exported parent of `span`, if any.
fn parent_of(spans: &[ReceivedSpan], span: &ReceivedSpan) -> Option<ReceivedSpan> {
    spans.iter().find(|p| p.span_id == span.parent_span_id).cloned()
}

/// Asserts that `server`'s parent is `caller`'s client span for the same RPC, inside `ancestor`.
fn assert_called_through_client_span(
    spans: &[ReceivedSpan],
    server: &ReceivedSpan,
    caller: &str,
    ancestor: &ReceivedSpan,
) {
    let client = parent_of(spans, server)
        .unwrap_or_else(|| panic!("{}: parent span not exported", server.name));
    assert_eq!(client.service, caller, "{}: called by {caller}", server.name);
    assert_eq!(
        client.kind,
        SpanKind::Client as i32,
        "{}: the parent is a client span",
        server.name
    );
    assert_eq!(client.name, server.name, "the client span names the RPC");
    assert!(
        client.has("rpc.system=grpc") && client.has("rpc.grpc.status_code=0"),
        "client span attributes: {:?}",
        client.attributes
    );
    assert!(
        descends_from(spans, &client, ancestor),
        "{}: the client span is inside {}",
        server.name,
        ancestor.name
    );
    assert_eq!(server.kind, SpanKind::Server as i32);
}

/// Whether `ancestor` is `span` or one of its parents among the received spans.
fn descends_from(spans: &[ReceivedSpan], span: &ReceivedSpan, ancestor: &ReceivedSpan) -> bool {
    let by_id: HashMap<&[u8], &ReceivedSpan> =
        spans.iter().map(|s| (s.span_id.as_slice(), s)).collect();
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
            .add_service(TraceServiceServer::new(server.clone()))
            .add_service(MetricsServiceServer::new(server))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    let mut stack = Stack::start_with(vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), format!("http://{otlp}")),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
        ("OTEL_METRIC_EXPORT_INTERVAL".into(), "500".into()),
        ("CONTINUUM_SWEEP_INTERVAL_SECS".into(), "1".into()),
        ("CONTINUUM_DEADLINE_SWEEP_SECS".into(), "1".into()),
    ])
    .await;

    let provider = crate::stack::clinician("Dr Traced", 3);
    stack
        .matching()
        .upsert_provider(mpb::UpsertProviderRequest {
            provider: Some(provider),
            expected_version: 0,
        })
        .await
        .unwrap();

    // Distinctive personal information that must appear nowhere but in the answer.
    let secrets = [
        "Xanthippe",
        "Quillfeather",
        "xq.private@example.org",
        "+1 555 013 2468",
        "1979-03-17",
        "my-distinctive-free-text-5521",
    ];
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
        screeners: Some(ipb::Screeners {
            phq9: Some(ipb::Phq9 { items: vec![2, 2, 1, 1, 1, 1, 1, 2, 0] }),
            ..Default::default()
        }),
        consent: Some(ipb::Consent { share_with_referral_recipient: true }),
        ..Default::default()
    };
    let intake = stack.intake().submit_intake(req).await.unwrap().into_inner().intake.unwrap();
    assert_eq!(intake.routing.as_ref().unwrap().status, ipb::RoutingStatus::Referred as i32);
    // A bad request too: its error must not echo what was sent.
    let mut bad = ipb::SubmitIntakeRequest {
        idempotency_key: "trace-2".into(),
        organization_id: CLINIC.into(),
        ..Default::default()
    };
    bad.client = Some(ipb::ClientDetails {
        given_name: secrets[0].into(),
        email: "Quillfeather-not-an-email".into(),
        ..Default::default()
    });
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
        async move {
            wanted
                .iter()
                .all(|(svc, name)| spans.iter().any(|s| s.service == *svc && s.name == *name))
                .then_some(spans)
        }
    })
    .await
    .unwrap_or_else(|| {
        let got: Vec<(String, String)> = receiver
            .spans
            .lock()
            .unwrap()
            .iter()
            .map(|s| (s.service.clone(), s.name.clone()))
            .collect();
        panic!("missing spans; received {got:?}")
    });
    let find = |svc: &str, name: &str| {
        spans.iter().find(|s| s.service == svc && s.name == name).unwrap().clone()
    };
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
    // Each hop goes through the caller's client span: intake server → intake client → matching server.
    assert_called_through_client_span(&spans, &recommend, "intake", &submit);
    assert_called_through_client_span(&spans, &create, "intake", &submit);
    assert_called_through_client_span(&spans, &take, "referral", &create);
    // Status codes: OK on the accepted intake, INVALID_ARGUMENT (3) and ERROR on the bad one.
    assert!(
        submit.has("rpc.grpc.status_code=0") && submit.status != StatusCode::Error as i32,
        "{:?}",
        submit.attributes
    );
    let rejected = eventually(Duration::from_secs(10), || {
        let spans = receiver.spans.lock().unwrap().clone();
        async move {
            spans.into_iter().find(|s| {
                s.service == "intake" && s.name == wanted[0].1 && s.has("rpc.grpc.status_code=3")
            })
        }
    })
    .await
    .expect("the rejected SubmitIntake span records its status");
    assert_eq!(rejected.status, StatusCode::Error as i32);

    let mut exported = String::new();
    for s in receiver.spans.lock().unwrap().iter() {
        exported.push_str(&s.name);
        for a in &s.attributes {
            exported.push_str(a);
        }
    }
    // The business gauges appear once each worker has run.
    let gauges = [
        ("intake", "continuum_routings_pending"),
        ("waitlist", "continuum_offers_pending"),
        ("referral", "continuum_referrals_overdue"),
    ];
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
        scraped.contains("grpc_server_requests_total{")
            && scraped.contains("method=\"SubmitIntake\""),
        "per-RPC metrics are scraped"
    );
    assert!(logs.contains("trace_id"), "log lines carry trace ids");

    // The same metrics arrive over OTLP, each under its service's name.
    let otlp_wanted = [
        ("intake", "grpc_server_requests_total", Some("method=SubmitIntake")),
        ("intake", "grpc_server_request_duration_seconds", Some("method=SubmitIntake")),
        ("matching", "grpc_server_requests_total", Some("method=RecommendForClient")),
        ("intake", "continuum_routings_pending", None),
        ("waitlist", "continuum_offers_pending", None),
        ("referral", "continuum_referrals_overdue", None),
    ];
    let received = eventually(Duration::from_secs(20), || {
        let metrics = receiver.metrics.lock().unwrap().clone();
        async move {
            otlp_wanted
                .iter()
                .all(|(svc, name, attr)| {
                    metrics.iter().any(|m| {
                        m.service == *svc
                            && m.name == *name
                            && attr.is_none_or(|a| m.attributes.iter().any(|x| x == a))
                    })
                })
                .then_some(metrics)
        }
    })
    .await
    .unwrap_or_else(|| {
        let got: std::collections::BTreeSet<(String, String)> = receiver
            .metrics
            .lock()
            .unwrap()
            .iter()
            .map(|m| (m.service.clone(), m.name.clone()))
            .collect();
        panic!("missing OTLP metrics {otlp_wanted:?}; received {got:?}")
    });
    let requests = received
        .iter()
        .find(|m| m.service == "intake" && m.name == "grpc_server_requests_total")
        .unwrap();
    assert!(
        requests.attributes.iter().any(|a| a.starts_with("code=")),
        "per-RPC metrics carry the code: {:?}",
        requests.attributes
    );
    let metric_text: String = received
        .iter()
        .flat_map(|m| std::iter::once(m.name.clone()).chain(m.attributes.iter().cloned()))
        .collect();

    for s in secrets {
        assert!(!exported.contains(s), "{s} found in an exported span");
        assert!(!logs.contains(s), "{s} found in a log line");
        assert!(!scraped.contains(s), "{s} found in a metric");
        assert!(!metric_text.contains(s), "{s} found in an OTLP metric attribute");
    }

    // Work finished later joins its trace: with matching down, cancelling the referral leaves its capacity
    // release in the outbox; once matching is back, the outbox worker delivers it in an `outbox.deliver`
    // span of the cancel's trace, and matching's UpdateCapacity is a child of that (through a client span).
    let referral_id = intake.routing.clone().unwrap().referral_id;
    stack.stop_service("matching").await;
    let current = stack
        .referral()
        .get_referral(rpb::GetReferralRequest { referral_id: referral_id.clone() })
        .await
        .unwrap()
        .into_inner();
    let current = current.referral.unwrap();
    stack
        .referral()
        .transition_referral(continuum_testkit::requests::transition(
            &referral_id,
            current.version,
            rpb::ReferralAction::Cancel,
        ))
        .await
        .unwrap();
    stack.start_service("matching").await;
    let cancel_name = "continuum.referral.v1.ReferralService/TransitionReferral";
    let found = eventually(Duration::from_secs(30), || {
        let spans = receiver.spans.lock().unwrap().clone();
        async move {
            let cancel =
                spans.iter().find(|s| s.service == "referral" && s.name == cancel_name)?.clone();
            let deliver = spans
                .iter()
                .find(|s| {
                    s.service == "referral"
                        && s.name == "outbox.deliver"
                        && s.trace_id == cancel.trace_id
                })?
                .clone();
            let release = spans
                .iter()
                .find(|s| {
                    s.service == "matching"
                        && s.name == wanted[3].1
                        && descends_from(&spans, s, &deliver)
                })?
                .clone();
            Some((spans, cancel, deliver, release))
        }
    })
    .await;
    let (spans, cancel, deliver, release) = found.unwrap_or_else(|| {
        panic!(
            "the outbox delivery did not join the cancel's trace; referral log:\n{}",
            stack.log("referral")
        )
    });
    assert!(
        descends_from(&spans, &deliver, &cancel),
        "the worker's span is a child of the request that created the work"
    );
    assert_called_through_client_span(&spans, &release, "referral", &deliver);
    // The attempt made while matching was down shows as a failed client span in the cancel's trace.
    let failed = spans
        .iter()
        .find(|s| {
            s.service == "referral"
                && s.kind == SpanKind::Client as i32
                && s.name == wanted[3].1
                && s.has("rpc.grpc.status_code=14")
        })
        .expect("the failed release attempt has a client span with UNAVAILABLE");
    assert_eq!(failed.status, StatusCode::Error as i32);
    assert_eq!(failed.trace_id, cancel.trace_id);
}
