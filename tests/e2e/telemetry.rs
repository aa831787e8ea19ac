//! Ops can follow one intake: an OTLP trace receiver runs inside the test, the four services export to it
//! as separate processes, and one submitted intake arrives as one trace with the intake server → intake
//! client → matching / referral server chain and gRPC status codes on the spans; the per-RPC, client and
//! business metrics are scraped from each service's `/metrics` (metrics take that one path, never OTLP).
//! A capacity release that the outbox worker delivers later (matching was down) joins the trace of the
//! request that caused it. The same run checks that no personal health information reaches a span, a log
//! line or a metric, and that no log line's `level` is anything but a severity.
//!
//! The other tests here: a quiet process already exports every metric it can, each with `# HELP`; made-up
//! gRPC paths answer UNIMPLEMENTED and add no metric series.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use continuum_proto::common::v1 as common;
use continuum_proto::intake::v1 as ipb;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::referral::v1 as rpb;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
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

#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
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
            .add_service(TraceServiceServer::new(server))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    let mut stack = Stack::start_with(vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), format!("http://{otlp}")),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
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
    // The intake's own span is found by the intake it made (issue 14, point 5).
    assert!(
        submit.attributes.iter().any(|a| a.starts_with("continuum.intake_id=") && a.len() > 30)
            && submit.attributes.iter().any(|a| a.starts_with("continuum.organization_id="))
            && submit.attributes.iter().any(|a| a.starts_with("continuum.routing_status=")),
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

    // Metrics take one path: the scrape. Intake's calls to its peers are counted by peer and code.
    assert!(
        scraped.contains(
            r#"grpc_client_requests_total{peer="matching",method="RecommendForClient",code="0"} "#
        ),
        "client metrics are scraped"
    );
    assert!(
        scraped.contains(r#"grpc_client_request_duration_seconds_count{peer="matching",method="RecommendForClient"} "#),
        "client durations are scraped"
    );
    assert!(scraped.contains(r#"continuum_dependency_up{dependency="matching"} 1"#));
    assert!(
        scraped.contains(r#"continuum_routings_total{status="referred"} 1"#),
        "the routing counted"
    );
    // A log line's `level` is its severity, never a field of the event (the level of care).
    for line in logs.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let level = v["level"].as_str().unwrap_or_default();
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
            "a log line whose level is not a severity: {line}"
        );
    }
    assert!(logs.contains(r#""level_of_care":"#), "the level of care is logged as level_of_care");

    for s in secrets {
        assert!(!exported.contains(s), "{s} found in an exported span");
        assert!(!logs.contains(s), "{s} found in a log line");
        assert!(!scraped.contains(s), "{s} found in a metric");
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

/// The metric series of a scrape (the lines that are not comments).
fn series(scrape: &str) -> Vec<&str> {
    scrape
        .lines()
        .skip_while(|l| !l.is_empty())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Every metric family in a scrape has its `# HELP` line.
fn assert_every_metric_has_help(service: &str, scrape: &str) {
    for line in scrape.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(
            scrape.contains(&format!("# HELP {name} ")),
            "{service}: {name} has no # HELP line"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_process_exports_every_metric_it_can_with_help() {
    let stack = Stack::start().await;
    let common = [
        "continuum_dependency_up{dependency=\"database\"} 1",
        "continuum_db_pool_connections{state=\"in_use\"}",
        "continuum_db_pool_connections{state=\"idle\"}",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
    ];
    let own: [(&str, &[&str]); 4] = [
        (
            "intake",
            &[
                "continuum_crisis_unreferred_total 0",
                "continuum_crisis_routings_total 0",
                "continuum_routings_total{status=\"referred\"} 0",
                "continuum_routings_total{status=\"needs_coordinator\"} 0",
                "continuum_intake_routed_seconds_bucket{le=\"300\"} 0",
                "continuum_intake_routed_seconds_count 0",
            ],
        ),
        (
            "matching",
            &[
                "continuum_capacity_events_delivered_total 0",
                "continuum_capacity_events_dead_total 0",
            ],
        ),
        ("referral", &["continuum_referrals_overdue 0"]),
        (
            "waitlist",
            &[
                "continuum_offers_expired_total 0",
                "continuum_offers_pending 0",
                "continuum_bridge_choices_total{status=\"chosen\"} 0",
                "continuum_time_to_first_offer_seconds_bucket{le=\"3628800\"} 0",
            ],
        ),
    ];
    for (service, wanted) in own {
        let build = format!(
            "continuum_build_info{{service=\"{service}\",version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let all: Vec<String> =
            common.iter().chain(wanted.iter()).map(|w| (*w).to_owned()).chain([build]).collect();
        let addr = stack.metrics[service].clone();
        // The workers' start-up reports race the first scrape by a few milliseconds.
        let scrape = eventually(Duration::from_secs(10), || {
            let (addr, all) = (addr.clone(), all.clone());
            async move {
                let scrape = crate::stack::scrape(&addr).await;
                all.iter().all(|w| scrape.contains(w.as_str())).then_some(scrape)
            }
        })
        .await;
        let scrape = match scrape {
            Some(s) => s,
            None => {
                let s = crate::stack::scrape(&addr).await;
                let missing: Vec<&String> =
                    all.iter().filter(|w| !s.contains(w.as_str())).collect();
                panic!("{service}: missing {missing:?} in\n{s}")
            }
        };
        assert_every_metric_has_help(service, &scrape);
    }
}

/// Calls `path` on `addr` without a token, with an empty message, and returns the status.
async fn call_made_up(addr: &str, path: &'static str) -> tonic::Status {
    let channel = continuum_runtime::peer_channel(addr).unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    grpc.unary(tonic::Request::new(()), path, codec).await.unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_paths_answer_unimplemented_and_add_no_series() {
    let stack = Stack::start().await;
    let (addr, metrics) = (&stack.addrs["intake"], &stack.metrics["intake"]);
    // The first unknown call creates the one `unknown` series of each metric.
    let first = call_made_up(addr, "/x.Warmup/First").await;
    assert_eq!(first.code(), tonic::Code::Unimplemented, "{first:?}");
    let before = crate::stack::scrape(metrics).await;
    for path in [
        "/x.Bogus/Nope",
        "/continuum.intake.v1.IntakeService/DropAll",
        "/grpc.health.v1.Health/Bogus",
    ] {
        let status = call_made_up(addr, path).await;
        assert_eq!(status.code(), tonic::Code::Unimplemented, "{path}: {status:?}");
    }
    let after = crate::stack::scrape(metrics).await;
    let unknown: Vec<&str> =
        series(&after).into_iter().filter(|l| l.contains("method=\"unknown\"")).collect();
    assert!(!unknown.is_empty(), "unknown paths are counted under method=\"unknown\"");
    for made_up in ["Bogus", "Nope", "DropAll", "Warmup"] {
        assert!(!after.contains(made_up), "{made_up} became a label:\n{after}");
    }
    // The RPC series (a worker's gauge may appear between the two scrapes on a slow start).
    let names = |scrape: &str| -> std::collections::BTreeSet<String> {
        series(scrape)
            .iter()
            .filter(|l| l.starts_with("grpc_"))
            .map(|l| l.rsplit_once(' ').unwrap().0.to_owned())
            .collect()
    };
    assert_eq!(names(&before), names(&after), "made-up paths added series");
    let counted = after
        .lines()
        .find(|l| l.starts_with("grpc_server_requests_total") && l.contains("method=\"unknown\""))
        .unwrap();
    assert!(counted.ends_with(" 4"), "all four calls under one series: {counted}");
}

/// Issue 14, point 6: a collector that is down (closed port) or does not answer (accepts connections,
/// never replies) neither holds up a process's exit nor floods its log. The process exits within 5 s of
/// SIGTERM (the span export at shutdown is bounded), and the failing exports are reported in one ERROR
/// line per interval, not one per batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_collector_neither_holds_up_shutdown_nor_floods_the_log() {
    // A port nothing listens on (nor takes for an outgoing connection: see `free_addrs`).
    let closed = crate::stack::free_addrs(1).remove(0);
    let silent_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = silent_listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent_listener.accept().await {
            held.push(socket);
        }
    });
    for (collector, endpoint) in [("closed", closed), ("silent", silent)] {
        let mut stack = Stack::start_only(
            &["matching"],
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), format!("http://{endpoint}")),
                ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
            ],
        )
        .await;
        // Spans in several export intervals.
        for _ in 0..6 {
            stack
                .matching()
                .list_providers(continuum_proto::matching::v1::ListProvidersRequest::default())
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        let started = std::time::Instant::now();
        stack.stop_service("matching").await;
        let took = started.elapsed();
        let log = stack.log("matching");
        println!("{collector} collector: exit {took:?} after SIGTERM");
        for line in log.lines().filter(|l| l.contains("span export")) {
            println!("  {line}");
        }
        assert!(took < Duration::from_secs(5), "{collector}: exit took {took:?}; log:\n{log}");
        assert!(log.contains("\"message\":\"stopped\""), "{collector}: a clean exit; log:\n{log}");
        let errors: Vec<&str> = log.lines().filter(|l| l.contains(r#""level":"ERROR""#)).collect();
        let reports: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("span export") && !l.contains(r#""level":"INFO""#))
            .collect();
        if collector == "closed" {
            // Refused at once: exports fail all along, reported once (the interval is a minute).
            assert_eq!(errors.len(), 1, "{collector}: one ERROR line; log:\n{log}");
            assert!(errors[0].contains("span export"), "{}", errors[0]);
        } else {
            // No answer: the exports hang until shutdown gives up on them, which says so.
            assert!(errors.len() <= 1, "{collector}: at most one ERROR line; log:\n{log}");
        }
        assert!(!reports.is_empty(), "{collector}: export failures are not silent; log:\n{log}");
    }
    holder.abort();
}
