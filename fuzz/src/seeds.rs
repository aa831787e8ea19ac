//! The seed corpus (`fuzz/corpus/<target>/<seed>`): one valid request per RPC (the selector byte, then the
//! encoded request built by `continuum_testkit::requests`), a few variants for the big requests, and a
//! few byte patterns for the rules engine. Each target checks its seeds at start-up and writes them when
//! asked ([`init`]); libFuzzer then mutates from accepted requests instead of from nothing.

use continuum_proto::intake::v1 as ipb;
use continuum_proto::matching::v1 as mpb;
use continuum_proto::referral::v1 as rpb;
use continuum_proto::waitlist::v1 as wpb;
use continuum_testkit::requests as r;
use prost::Message;

use crate::harness::{Rpc, index_of};

/// One seed: target, file name, bytes.
pub type Seed = (&'static str, String, Vec<u8>);

fn seed(target: &'static str, rpcs: &[Rpc], name: &str, variant: &str, m: &impl Message) -> Seed {
    let mut bytes = vec![index_of(rpcs, name)];
    bytes.extend(m.encode_to_vec());
    let file = if variant.is_empty() { name.to_owned() } else { format!("{name}-{variant}") };
    (target, file, bytes)
}

fn intake() -> Vec<Seed> {
    let rpcs = crate::intake_requests::RPCS;
    let crisis = ipb::SubmitIntakeRequest {
        screeners: Some(ipb::Screeners {
            cssrs: Some(ipb::Cssrs { intent_with_plan: true, ..Default::default() }),
            pcl5: Some(ipb::Pcl5 { items: vec![3; 20] }),
            ..Default::default()
        }),
        clinician_override: Some(ipb::AssessmentOverride {
            level_of_care: 2,
            phase: 0,
            reason: "client declines crisis care".into(),
            clinician_id: "clin-7".into(),
            acknowledge_below_risk: true,
        }),
        ..r::submit_intake("crisis")
    };
    vec![
        seed("intake_requests", rpcs, "SubmitIntake", "", &r::submit_intake("k1")),
        seed("intake_requests", rpcs, "SubmitIntake", "crisis", &crisis),
        seed(
            "intake_requests",
            rpcs,
            "GetIntake",
            "",
            &ipb::GetIntakeRequest { intake_id: r::INTAKE.into(), referral_id: r::REFERRAL.into() },
        ),
        seed(
            "intake_requests",
            rpcs,
            "ListIntakes",
            "",
            &ipb::ListIntakesRequest {
                organization_id: r::ORG.into(),
                risk_level: 3,
                page_size: 20,
                received_after: Some(prost_types_timestamp(1_700_000_000)),
                ..Default::default()
            },
        ),
        seed("intake_requests", rpcs, "RecordReassessment", "", &r::record_reassessment()),
        seed("intake_requests", rpcs, "RecordConsent", "", &r::record_consent()),
        seed(
            "intake_requests",
            rpcs,
            "RevokeConsent",
            "",
            &ipb::RevokeConsentRequest {
                intake_id: r::INTAKE.into(),
                recipient_organization_id: r::OTHER_ORG.into(),
                categories: vec![1, 2],
                referral_id: String::new(),
            },
        ),
        seed(
            "intake_requests",
            rpcs,
            "ListCareEvents",
            "",
            &ipb::ListCareEventsRequest { client_id: r::CLIENT.into() },
        ),
        seed(
            "intake_requests",
            rpcs,
            "ListAuditEvents",
            "",
            &ipb::ListAuditEventsRequest {
                client_id: r::CLIENT.into(),
                page_size: 50,
                ..Default::default()
            },
        ),
        seed(
            "intake_requests",
            rpcs,
            "CheckCareRelationship",
            "",
            &ipb::CheckCareRelationshipRequest {
                client_id: r::CLIENT.into(),
                intake_id: r::INTAKE.into(),
                owner_only: true,
            },
        ),
        seed(
            "intake_requests",
            rpcs,
            "ListClinicalTasks",
            "",
            &ipb::ListClinicalTasksRequest {
                organization_id: r::ORG.into(),
                status: 1,
                page_size: 10,
                ..Default::default()
            },
        ),
        seed(
            "intake_requests",
            rpcs,
            "CompleteClinicalTask",
            "",
            &ipb::CompleteClinicalTaskRequest { task_id: r::TASK.into(), expected_version: 2 },
        ),
        seed("intake_requests", rpcs, "RecordConsent", "many-categories", &{
            let mut c = r::record_consent();
            c.grants[0].categories = vec![1, 2, 3];
            c
        }),
    ]
}

fn prost_types_timestamp(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

fn matching() -> Vec<Seed> {
    let t = "matching_requests";
    let rpcs = crate::matching_requests::RPCS;
    let program = mpb::Provider {
        kind: mpb::ProviderKind::Iop as i32,
        levels_of_care: vec![3],
        open_slots: 0,
        cohorts: vec![mpb::Cohort {
            code: "spring-1".into(),
            start_date: Some(prost_types_timestamp(1_900_000_000)),
            seats: 8,
            open_seats: 8,
        }],
        ..r::provider()
    };
    let item = |key: &str, p: mpb::Provider| mpb::ImportProvidersRequest {
        provider: Some(p),
        expected_version: 0,
        import_key: key.into(),
    };
    let mut import = vec![index_of(rpcs, "ImportProviders")];
    import.extend(crate::matching_requests::import_stream(&[
        item("row-1", r::provider()),
        item("row-2", program.clone()),
    ]));
    vec![
        seed(t, rpcs, "UpsertProvider", "", &r::upsert_provider()),
        seed(
            t,
            rpcs,
            "UpsertProvider",
            "program",
            &mpb::UpsertProviderRequest { provider: Some(program), expected_version: 0 },
        ),
        seed(
            t,
            rpcs,
            "GetProvider",
            "",
            &mpb::GetProviderRequest { provider_id: r::PROVIDER.into() },
        ),
        seed(
            t,
            rpcs,
            "ListProviders",
            "",
            &mpb::ListProvidersRequest {
                organization_id: r::ORG.into(),
                kind: 1,
                level_of_care: 2,
                page_size: 20,
                page_token: String::new(),
            },
        ),
        seed(
            t,
            rpcs,
            "UpdateCapacity",
            "",
            &mpb::UpdateCapacityRequest {
                provider_id: r::PROVIDER.into(),
                change: Some(mpb::update_capacity_request::Change::Delta(-1)),
                hold_key: "intake:1".into(),
                ..Default::default()
            },
        ),
        seed(t, rpcs, "Recommend", "", &r::recommend()),
        seed(
            t,
            rpcs,
            "RecommendForClient",
            "",
            &mpb::RecommendForClientRequest {
                client: Some(r::client_profile()),
                fit: Some(r::client_fit()),
                top_k: 3,
            },
        ),
        seed(
            t,
            rpcs,
            "BatchRecommendForClient",
            "",
            &mpb::BatchRecommendForClientRequest {
                requests: vec![
                    mpb::RecommendForClientRequest {
                        client: Some(r::client_profile()),
                        fit: None,
                        top_k: 50,
                    },
                    mpb::RecommendForClientRequest {
                        client: Some(r::client_profile()),
                        fit: Some(r::client_fit()),
                        top_k: 3,
                    },
                ],
            },
        ),
        seed(
            t,
            rpcs,
            "AssignBatch",
            "",
            &mpb::AssignBatchRequest {
                clients: vec![
                    mpb::BatchClient {
                        client_id: "c1".into(),
                        priority: 2,
                        candidates: vec![
                            mpb::BatchCandidate { provider_id: "p1".into(), score: 700 },
                            mpb::BatchCandidate { provider_id: "p2".into(), score: 300 },
                        ],
                    },
                    mpb::BatchClient {
                        client_id: "c2".into(),
                        priority: 5,
                        candidates: vec![mpb::BatchCandidate {
                            provider_id: "p1".into(),
                            score: 900,
                        }],
                    },
                ],
                capacities: vec![
                    mpb::BatchCapacity { provider_id: "p1".into(), capacity: 1 },
                    mpb::BatchCapacity { provider_id: "p2".into(), capacity: 1 },
                ],
            },
        ),
        seed(
            t,
            rpcs,
            "RecordSessionFeedback",
            "",
            &mpb::RecordSessionFeedbackRequest {
                provider_id: r::PROVIDER.into(),
                client_id: r::CLIENT.into(),
                session_number: 2,
                srs_items: vec![9.0, 8.5, 9.0, 9.5],
                ors_items: vec![5.0, 6.0, 4.5, 5.5],
                client: Some(r::client_profile()),
                fit: Some(r::client_fit()),
                ..Default::default()
            },
        ),
        (t, "ImportProviders".to_owned(), import),
        seed(
            t,
            rpcs,
            "ListCareEvents",
            "",
            &mpb::ListCareEventsRequest { client_id: r::CLIENT.into() },
        ),
    ]
}

fn referral() -> Vec<Seed> {
    let t = "referral_requests";
    let rpcs = crate::referral_requests::RPCS;
    let mut out = vec![
        seed(t, rpcs, "CreateReferral", "", &r::create_referral("k1")),
        seed(
            t,
            rpcs,
            "GetReferral",
            "",
            &rpb::GetReferralRequest { referral_id: r::REFERRAL.into() },
        ),
        seed(
            t,
            rpcs,
            "ListReferrals",
            "",
            &rpb::ListReferralsRequest {
                status: 2,
                urgency: 1,
                page_size: 20,
                client_id: r::CLIENT.into(),
                ..Default::default()
            },
        ),
        seed(
            t,
            rpcs,
            "GetCareTimeline",
            "",
            &rpb::GetCareTimelineRequest { client_id: r::CLIENT.into() },
        ),
        seed(
            t,
            rpcs,
            "WatchReferrals",
            "",
            &rpb::WatchReferralsRequest {
                organization_id: r::ORG.into(),
                cursor: r::EVENT.into(),
                since: None,
            },
        ),
        seed(
            t,
            rpcs,
            "GetHandoffPacket",
            "",
            &rpb::GetHandoffPacketRequest { referral_id: r::REFERRAL.into() },
        ),
    ];
    for (variant, action) in [
        ("accept", rpb::ReferralAction::Accept),
        ("reject", rpb::ReferralAction::Reject),
        ("schedule", rpb::ReferralAction::Schedule),
        ("no-show", rpb::ReferralAction::RecordNoShow),
    ] {
        out.push(seed(
            t,
            rpcs,
            "TransitionReferral",
            variant,
            &r::transition(r::REFERRAL, 3, action),
        ));
    }
    out
}

fn waitlist() -> Vec<Seed> {
    let t = "waitlist_requests";
    let rpcs = crate::waitlist_requests::RPCS;
    use wpb::respond_to_offer_request::{Accept, Answer, Decline};
    vec![
        seed(t, rpcs, "Enqueue", "", &r::enqueue("k1")),
        seed(t, rpcs, "GetEntry", "", &wpb::GetEntryRequest { entry_id: r::ENTRY.into() }),
        seed(
            t,
            rpcs,
            "ListWaitlist",
            "",
            &wpb::ListWaitlistRequest {
                provider_id: r::PROVIDER.into(),
                band: 1,
                page_size: 20,
                ..Default::default()
            },
        ),
        seed(t, rpcs, "OpenSlots", "", &r::open_slots()),
        seed(
            t,
            rpcs,
            "RespondToOffer",
            "accept",
            &wpb::RespondToOfferRequest {
                offer_id: r::OFFER.into(),
                answer: Some(Answer::Accept(Accept {
                    appointment_at: Some(prost_types_timestamp(1_900_000_000)),
                })),
            },
        ),
        seed(
            t,
            rpcs,
            "RespondToOffer",
            "decline",
            &wpb::RespondToOfferRequest {
                offer_id: r::OFFER.into(),
                answer: Some(Answer::Decline(Decline {})),
            },
        ),
        seed(t, rpcs, "RecordCheckIn", "", &r::record_check_in()),
        seed(t, rpcs, "EstimateWait", "", &wpb::EstimateWaitRequest { entry_id: r::ENTRY.into() }),
        seed(
            t,
            rpcs,
            "RemoveEntry",
            "",
            &wpb::RemoveEntryRequest {
                entry_id: r::ENTRY.into(),
                reason: "found care elsewhere".into(),
                expected_version: Some(2),
            },
        ),
        seed(
            t,
            rpcs,
            "ListCareEvents",
            "",
            &wpb::ListCareEventsRequest { client_id: r::CLIENT.into() },
        ),
        seed(
            t,
            rpcs,
            "GetWaitlistMetrics",
            "",
            &wpb::GetWaitlistMetricsRequest { organization_id: r::ORG.into(), length_weeks: 12 },
        ),
    ]
}

fn rules() -> Vec<Seed> {
    let t = "intake_rules";
    vec![
        (t, "zeros".to_owned(), vec![0; 512]),
        (t, "ones".to_owned(), vec![0xff; 512]),
        (t, "ramp".to_owned(), (0..=255u8).cycle().take(768).collect()),
        (t, "alternating".to_owned(), [0x55u8, 0xaa].repeat(384)),
    ]
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    [intake(), matching(), referral(), waitlist(), rules()].concat()
}

/// What every target does once at start-up: checks that each seed of `target` is a request its
/// validator accepts (so fuzzing starts from accepted input, and a seed broken by an API change fails the
/// run at once); with `CONTINUUM_FUZZ_WRITE_SEEDS=<dir>` set, writes them to `<dir>/<target>/` and exits
/// instead: `CONTINUUM_FUZZ_WRITE_SEEDS=corpus cargo fuzz run --sanitizer none <target>` (in `fuzz/`).
pub fn init(target: &str) {
    use std::sync::atomic::Ordering;

    use crate::harness::ACCEPTED;

    let seeds: Vec<Seed> = all().into_iter().filter(|(t, _, _)| *t == target).collect();
    assert!(!seeds.is_empty(), "no seeds for {target}");
    if let Some(root) = std::env::var_os("CONTINUUM_FUZZ_WRITE_SEEDS") {
        let dir = std::path::Path::new(&root).join(target);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for (_, name, bytes) in &seeds {
            std::fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        eprintln!("wrote {} seeds to {}", seeds.len(), dir.display());
        std::process::exit(0);
    }
    for (_, name, bytes) in &seeds {
        let before = ACCEPTED.load(Ordering::SeqCst);
        match target {
            "intake_requests" => crate::intake_requests::run(bytes),
            "matching_requests" => crate::matching_requests::run(bytes),
            "referral_requests" => crate::referral_requests::run(bytes),
            "waitlist_requests" => crate::waitlist_requests::run(bytes),
            _ => {
                crate::intake_rules::run(bytes);
                continue;
            }
        }
        assert!(ACCEPTED.load(Ordering::SeqCst) > before, "seed {target}/{name} is refused");
    }
}
