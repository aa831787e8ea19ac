//! Recommend benchmark: ranks a generated directory (default 20,000 providers) for generated clients on
//! one thread and prints one JSON line with p50/p99 latency of the top-10 ranking (hard constraints,
//! scoring, reasons for the top k) over the in-memory snapshot the service keeps.
//!
//! ```text
//! cargo run --release -p matching --example recommend_bench -- [--providers 20000] [--requests 2000] [--top-k 10] [--broad] [--import]
//! ```
//! Besides wall-clock percentiles over all requests it reports the percentiles over the requests the OS
//! did not preempt (no involuntary context switch of the thread during the request, from
//! `/proc/thread-self/status`) and the share of wall time the thread had a core: on a shared machine the
//! all-requests tail measures the neighbours, the unpreempted one the work on one core.
//!
//! Generated providers carry session ratings by client segment (age group, and age group with main
//! concern), so alliance learning from similar clients is part of the measured path.
//!
//! `--broad` makes every provider pass every hard constraint for every client (the worst case: all
//! 20,000 are scored). `--import` also times importing the directory into a fresh SQLite database through the store's
//! batched import (the path `ImportProviders` takes) and the full snapshot load from it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_possible_truncation
)]

use std::time::Instant;

use chrono::Utc;
use continuum_vocab::ids::{OrganizationId, ProviderId};
use continuum_vocab::{
    AgeGroup, CareFormat, CarePhase, LevelOfCare, Modality, PaymentOption, RelationalStyle,
};
use matching::domain::alliance::{ClientSegment, SegmentStats};
use matching::domain::directory::Directory;
use matching::domain::{
    AllianceStats, ClientFit, ClientNeeds, Cohort, Location, OutcomeRating, OutcomeStrength,
    ProblemDomain, Profile, Provider, ProviderDraft, ProviderKind, ScheduleWindow, Weights,
};

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 10_000) as f64 / 10_000.0 < p
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    fn some<T: Copy + PartialEq>(&mut self, xs: &[T], max: usize) -> Vec<T> {
        let n = 1 + self.below(max);
        let mut out = Vec::new();
        for _ in 0..n {
            let x = self.pick(xs);
            if !out.contains(&x) {
                out.push(x);
            }
        }
        out
    }
    fn style(&mut self) -> RelationalStyle {
        let mut d = || (self.below(7) as i8) - 3;
        RelationalStyle {
            directiveness: d(),
            emotional_intensity: d(),
            past_orientation: d(),
            challenge: d(),
        }
    }
}

const STATES: [&str; 6] = ["US-CA", "US-NY", "US-TX", "US-WA", "US-FL", "US"];
const LANGS: [&str; 5] = ["en", "en", "en", "es", "zh"];
const FAITH: [&str; 4] = ["christian", "muslim", "jewish", "secular"];
const CULTURE: [&str; 4] = ["latine", "black", "lgbtq_affirming", "indigenous"];
const IDENTITY: [&str; 4] = ["gender:woman", "gender:man", "lgbtq", "veteran"];

fn draft(r: &mut Rng, i: usize, now_ms: i64) -> ProviderDraft {
    let kind = if r.chance(0.8) { ProviderKind::Clinician } else { r.pick(&ProviderKind::ALL) };
    let domains = ProblemDomain::ALL;
    let specialties = r.some(domains, 4);
    let outcome_strengths = specialties
        .iter()
        .map(|d| OutcomeStrength {
            domain: *d,
            rating: r.pick(OutcomeRating::ALL),
            cases: r.below(60) as i32,
        })
        .collect();
    let cohorts = if kind == ProviderKind::Clinician {
        vec![]
    } else {
        (0..3)
            .map(|k| Cohort {
                code: format!("c{k}"),
                start_ms: now_ms + (r.below(60) as i64) * 86_400_000,
                seats: 12,
                open_seats: r.below(13) as i32,
            })
            .collect()
    };
    ProviderDraft {
        id: Some(ProviderId::new_v7()),
        organization_id: OrganizationId::parse(&format!(
            "0190a1b2-c3d4-7e5f-8a9b-{:012x}",
            i % 200
        ))
        .unwrap_or_else(OrganizationId::new_v7),
        display_name: format!("Provider {i}"),
        kind,
        profile: Profile {
            levels_of_care: r.some(LevelOfCare::ALL, 2),
            age_groups: r.some(AgeGroup::ALL, 2),
            jurisdictions: vec![r.pick(&STATES).to_owned()],
            languages: r.some(&LANGS, 2).into_iter().map(str::to_owned).collect(),
            modalities: r.some(Modality::ALL, 3),
            payment_options: r.some(PaymentOption::ALL, 3),
            formats: r.some(CareFormat::ALL, 2),
            crisis_capable: r.chance(0.1),
            family_involvement: r.chance(0.2),
            relational_style: r.style(),
            specialties,
            outcome_strengths,
            identity: r.chance(0.3).then(|| vec![r.pick(&IDENTITY).to_owned()]),
            location: Location {
                region: format!("{}-{}", r.pick(&STATES[..5]), r.below(5)),
                coordinates: r.chance(0.5).then(|| {
                    (34.0 + r.below(400) as f64 / 100.0, -122.0 + r.below(400) as f64 / 100.0)
                }),
            },
            cohorts,
            faith_options: if r.chance(0.2) { vec![r.pick(&FAITH).to_owned()] } else { vec![] },
            cultural_options: if r.chance(0.3) {
                vec![r.pick(&CULTURE).to_owned()]
            } else {
                vec![]
            },
            schedule: r.some(ScheduleWindow::ALL, 2),
            typical_wait_days: r.below(60) as i32,
            unit: String::new(),
        },
        accepting_new_clients: r.chance(0.85),
        open_slots: r.below(4) as i32,
        expected_version: 0,
    }
}

fn provider(d: ProviderDraft, r: &mut Rng) -> Provider {
    let mut alliance = AllianceStats::default();
    // Each rating also counts for its client's segment (age group, and age group with main concern).
    let mut segments: std::collections::BTreeMap<String, SegmentStats> =
        std::collections::BTreeMap::new();
    for _ in 0..r.below(20) {
        let srs = 28.0 + r.below(13) as f64;
        alliance = alliance.with(srs, Some(r.style()));
        let age = r.pick(&d.profile.age_groups);
        let segment = ClientSegment::of(age, &[r.pick(ProblemDomain::ALL)]);
        for code in segment.recorded_codes() {
            let e = segments.entry(code).or_default();
            *e = e.with(srs);
        }
    }
    Provider {
        id: d.id.map(String::from).unwrap_or_default(),
        organization_id: d.organization_id.into_string(),
        display_name: d.display_name,
        kind: d.kind,
        profile: d.profile,
        accepting_new_clients: d.accepting_new_clients,
        open_slots: d.open_slots,
        version: 1,
        updated_at: Utc::now(),
        alliance,
        alliance_segments: segments.into_iter().collect(),
    }
}

fn client(r: &mut Rng) -> ClientNeeds {
    // Mostly the common case (adult outpatient, English, US-CA or NY) so most providers reach scoring.
    ClientNeeds {
        level_of_care: if r.chance(0.8) {
            LevelOfCare::Outpatient
        } else {
            r.pick(LevelOfCare::ALL)
        },
        age_group: if r.chance(0.8) { AgeGroup::Adult } else { r.pick(AgeGroup::ALL) },
        jurisdiction: r.pick(&STATES[..5]).to_owned(),
        language: r.pick(&LANGS).to_owned(),
        payment_option: r.pick(PaymentOption::ALL),
        formats: if r.chance(0.5) { vec![] } else { r.some(CareFormat::ALL, 2) },
        modalities_avoided: if r.chance(0.3) { vec![r.pick(Modality::ALL)] } else { vec![] },
        needs_crisis_capable: r.chance(0.05),
        phase: r.chance(0.2).then_some(CarePhase::Stabilisation),
        relational_style: r.style(),
        fit: ClientFit {
            problem_domains: r.some(ProblemDomain::ALL, 3),
            modalities_wanted: if r.chance(0.5) { r.some(Modality::ALL, 2) } else { vec![] },
            modalities_tried: if r.chance(0.5) { r.some(Modality::ALL, 2) } else { vec![] },
            identity_preferences: if r.chance(0.3) {
                vec![r.pick(&IDENTITY).to_owned()]
            } else {
                vec![]
            },
            faith_preferences: if r.chance(0.2) { vec![r.pick(&FAITH).to_owned()] } else { vec![] },
            cultural_preferences: if r.chance(0.3) {
                vec![r.pick(&CULTURE).to_owned()]
            } else {
                vec![]
            },
            region: format!("{}-{}", r.pick(&STATES[..5]), r.below(5)),
            schedule: if r.chance(0.5) { r.some(ScheduleWindow::ALL, 2) } else { vec![] },
            excluded_provider_ids: vec![],
            programs_cycled: r.below(3) as i32,
            location: r.chance(0.5).then(|| {
                (34.0 + r.below(400) as f64 / 100.0, -122.0 + r.below(400) as f64 / 100.0)
            }),
        },
    }
}

/// Involuntary context switches of this thread so far (Linux), to tell preempted requests apart: on a
/// shared machine the wall-clock tail is dominated by other processes taking the core.
fn preemptions() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("nonvoluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
}

/// CPU time this thread has run, ns (Linux scheduler statistics).
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n = arg(&args, "--providers", 20_000);
    let requests = arg(&args, "--requests", 2_000);
    let top_k = arg(&args, "--top-k", 10);
    let now_ms = Utc::now().timestamp_millis();
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let broad = args.iter().any(|a| a == "--broad");
    let mut drafts: Vec<ProviderDraft> = (0..n).map(|i| draft(&mut r, i, now_ms)).collect();
    if broad {
        for d in &mut drafts {
            d.profile.levels_of_care = LevelOfCare::ALL.to_vec();
            d.profile.age_groups = AgeGroup::ALL.to_vec();
            d.profile.jurisdictions = vec!["US".into()];
            d.profile.languages.push("en".into());
            d.profile.payment_options = PaymentOption::ALL.to_vec();
            d.profile.crisis_capable = true;
            d.profile.modalities.retain(|m| !m.is_trauma_processing());
            d.profile.modalities.push(Modality::Act);
            d.accepting_new_clients = true;
        }
    }
    let weights = Weights::default();

    let mut import_s = None;
    let mut load_s = None;
    if args.iter().any(|a| a == "--import") {
        let dir = std::env::temp_dir().join(format!("recommend-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let db = continuum_db::connect_and_migrate::<matching::store::Migrator>(
            "matching",
            &continuum_db::DbSettings::sqlite(&dir),
        )
        .await?;
        let store = matching::store::Store::new(db);
        let t = Instant::now();
        for (n, chunk) in drafts.chunks(1000).enumerate() {
            let items = chunk
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    Ok(matching::domain::ImportItem {
                        key: format!("bench:{n}:{i}"),
                        fingerprint: d.fingerprint()?,
                        draft: d.clone(),
                    })
                })
                .collect::<Result<Vec<_>, serde_json::Error>>()?;
            store.import(chunk[0].organization_id.as_str(), items).await?;
        }
        import_s = Some(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let all = store.all_providers().await?;
        let loaded = Directory::build(all, &weights);
        load_s = Some(t.elapsed().as_secs_f64());
        assert_eq!(loaded.len(), n);
        let _ = std::fs::remove_dir_all(&dir);
    }

    let t = Instant::now();
    let providers: Vec<Provider> = drafts.into_iter().map(|d| provider(d, &mut r)).collect();
    let directory = Directory::build(providers, &weights);
    let build_s = t.elapsed().as_secs_f64();

    let mut clients: Vec<ClientNeeds> = (0..requests).map(|_| client(&mut r)).collect();
    if broad {
        for c in &mut clients {
            c.language = "en".into();
            c.formats.clear();
            c.modalities_avoided.retain(|m| *m != Modality::Act);
        }
    }
    // Warm-up.
    for c in clients.iter().take(50) {
        std::hint::black_box(directory.rank(c, &weights, top_k, now_ms));
    }
    let mut ms = Vec::with_capacity(requests);
    let mut unpreempted = Vec::with_capacity(requests);
    let mut eligible = 0u64;
    let cpu_before = cpu_ns();
    let wall = Instant::now();
    for c in &clients {
        let before = preemptions();
        let t = Instant::now();
        let ranking = directory.rank(c, &weights, top_k, now_ms);
        let took = t.elapsed().as_secs_f64() * 1e3;
        if before.is_some() && preemptions() == before {
            unpreempted.push(took);
        }
        ms.push(took);
        eligible +=
            (ranking.considered - ranking.exclusions.iter().map(|(_, x)| x).sum::<i32>()) as u64;
        std::hint::black_box(ranking);
    }
    let wall_s = wall.elapsed().as_secs_f64();
    // Share of the loop's wall time this thread actually had a core.
    let cpu_share = match (cpu_before, cpu_ns()) {
        (Some(a), Some(b)) => format!("{:.2}", (b - a) as f64 / 1e9 / wall_s),
        _ => "null".into(),
    };
    unpreempted.sort_by(f64::total_cmp);
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    println!(
        "{{\"providers\":{n},\"broad\":{broad},\"requests\":{requests},\"top_k\":{top_k},\"mean_eligible\":{:.0},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3},\"mean_ms\":{:.3},\"unpreempted\":{},\"unpreempted_p50_ms\":{:.3},\"unpreempted_p99_ms\":{:.3},\"cpu_share\":{},\"snapshot_build_s\":{:.3},\"import_s\":{},\"load_s\":{}}}",
        eligible as f64 / requests as f64,
        percentile(&ms, 0.50),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(0.0),
        mean,
        unpreempted.len(),
        if unpreempted.is_empty() { 0.0 } else { percentile(&unpreempted, 0.50) },
        if unpreempted.is_empty() { 0.0 } else { percentile(&unpreempted, 0.99) },
        cpu_share,
        build_s,
        import_s.map_or("null".into(), |s| format!("{s:.3}")),
        load_s.map_or("null".into(), |s| format!("{s:.3}")),
    );
    Ok(())
}
