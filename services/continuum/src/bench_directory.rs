//! `continuum bench directory`: fills a running stack's directory with a large synthetic one (20,000
//! providers by default) through `ImportProviders`, so the end-to-end benchmark ranks a realistic directory
//! and not the 8-provider demo. The providers are deterministic for a `--seed` (the same run twice imports
//! the same items under the same keys: the second answers UNCHANGED) and varied the way a regional
//! directory is: kinds, levels of care, age groups, languages, modalities, payment options, formats,
//! jurisdictions, relational styles and open slots. No person is described.

use clap::Args;
use continuum_hsds::sample::Rng;
use continuum_proto::common::v1 as common;
use continuum_proto::matching::v1 as pb;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;

/// Items per `ImportProviders` stream (the service takes at most 10,000).
const PER_STREAM: usize = 5_000;

/// `continuum bench directory` options.
#[derive(Clone, Debug, Args)]
pub struct DirectoryArgs {
    /// The matching service.
    #[arg(long, default_value = "http://127.0.0.1:50052")]
    pub addr: String,
    /// Bearer token of a provider admin of `--org` (`continuum token mint ... --role provider_admin`).
    #[arg(long, env = "CONTINUUM_BENCH_TOKEN")]
    pub token: String,
    /// The organization the providers belong to (UUID).
    #[arg(long, default_value = "0190d5a0-0000-7000-8000-000000000001")]
    pub org: String,
    /// Providers to import.
    #[arg(long, default_value_t = 20_000)]
    pub count: usize,
    /// Seed of the synthetic directory (same seed, same providers, same import keys).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Synthetic provider number `n` of the directory of `seed`.
pub fn synthetic_provider(org: &str, seed: u64, n: usize) -> pb::Provider {
    use common::{
        AgeGroup as A, CareFormat as F, LevelOfCare as L, Modality as M, PaymentOption as P,
    };
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (n as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03)
        | 1);
    let kinds = [
        (pb::ProviderKind::Clinician, 70),
        (pb::ProviderKind::SkillsGroup, 8),
        (pb::ProviderKind::Iop, 6),
        (pb::ProviderKind::TraumaIop, 3),
        (pb::ProviderKind::Php, 2),
        (pb::ProviderKind::CrisisService, 2),
        (pb::ProviderKind::PeerSupport, 6),
        (pb::ProviderKind::BridgeSupport, 3),
    ];
    let mut pick = r.below(100);
    let kind = kinds
        .iter()
        .find(|(_, w)| {
            let hit = pick < *w;
            pick = pick.saturating_sub(*w);
            hit
        })
        .map_or(pb::ProviderKind::Clinician, |(k, _)| *k);
    let levels = match kind {
        pb::ProviderKind::Iop | pb::ProviderKind::TraumaIop => vec![L::IntensiveOutpatient],
        pb::ProviderKind::Php => vec![L::PartialHospitalization],
        pb::ProviderKind::CrisisService => vec![L::Crisis],
        pb::ProviderKind::PeerSupport | pb::ProviderKind::BridgeSupport => {
            vec![L::SelfGuidedPeer]
        }
        _ => r.some(&[L::Outpatient, L::Outpatient, L::SelfGuidedPeer], 2),
    };
    let modalities = match kind {
        pb::ProviderKind::TraumaIop => vec![M::Emdr, M::Cpt],
        pb::ProviderKind::SkillsGroup => vec![M::Dbt, M::SkillsTraining],
        pb::ProviderKind::CrisisService => vec![M::CrisisIntervention],
        pb::ProviderKind::PeerSupport => vec![M::PeerSupport],
        pb::ProviderKind::BridgeSupport => vec![M::SingleSession],
        _ => r.some(
            &[
                M::Cbt,
                M::Dbt,
                M::Emdr,
                M::ProlongedExposure,
                M::Cpt,
                M::TfCbt,
                M::Act,
                M::Somatic,
                M::Psychodynamic,
                M::Ifs,
                M::MotivationalInterviewing,
                M::FamilyTherapy,
                M::Mentalization,
                M::PersonCentred,
            ],
            4,
        ),
    };
    let jurisdictions = if r.chance(70) {
        vec!["US-CA".to_owned()]
    } else {
        vec![["US-NY", "US-TX", "US-WA", "US-OR"][r.below(4)].to_owned()]
    };
    let languages = if r.chance(80) {
        vec!["en".to_owned()]
    } else {
        let mut l = vec!["en".to_owned()];
        l.push(["es", "zh", "vi", "tl", "ko"][r.below(5)].to_owned());
        l
    };
    let style = |r: &mut Rng| i32::try_from(r.below(5)).unwrap_or(0) - 2;
    pb::Provider {
        organization_id: org.to_owned(),
        display_name: format!("Synthetic provider {n}"),
        kind: kind as i32,
        levels_of_care: levels.into_iter().map(|x| x as i32).collect(),
        age_groups: r
            .some(&[A::Adult, A::Adult, A::OlderAdult, A::Adolescent, A::Child], 3)
            .into_iter()
            .map(|x| x as i32)
            .collect(),
        jurisdictions,
        languages,
        modalities: modalities.into_iter().map(|x| x as i32).collect(),
        payment_options: r
            .some(
                &[P::CommercialInsurance, P::PublicInsurance, P::SelfPay, P::SlidingScale, P::Free],
                3,
            )
            .into_iter()
            .map(|x| x as i32)
            .collect(),
        formats: r
            .some(&[F::InPerson, F::Video, F::Phone], 2)
            .into_iter()
            .map(|x| x as i32)
            .collect(),
        accepting_new_clients: r.chance(90),
        open_slots: i32::try_from(r.below(4)).unwrap_or(0),
        crisis_capable: kind == pb::ProviderKind::CrisisService,
        family_involvement: r.chance(15),
        relational_style: Some(common::RelationalStyle {
            directiveness: style(&mut r),
            emotional_intensity: style(&mut r),
            past_orientation: style(&mut r),
            challenge: style(&mut r),
        }),
        ..Default::default()
    }
}

/// Imports `--count` synthetic providers in streams of [`PER_STREAM`]; prints what was created.
pub async fn seed_directory(args: DirectoryArgs) -> anyhow::Result<()> {
    let (channel, bearer) = crate::bench::connect(&args.addr, &args.token).await?;
    let mut client = MatchingServiceClient::new(channel)
        .max_decoding_message_size(continuum_runtime::MAX_MESSAGE_BYTES);
    let (mut created, mut unchanged, mut failed) = (0, 0, 0);
    let started = std::time::Instant::now();
    for first in (0..args.count).step_by(PER_STREAM) {
        let items: Vec<pb::ImportProvidersRequest> = (first..(first + PER_STREAM).min(args.count))
            .map(|n| pb::ImportProvidersRequest {
                provider: Some(synthetic_provider(&args.org, args.seed, n)),
                expected_version: 0,
                import_key: format!("bench-directory:{}:{n}", args.seed),
            })
            .collect();
        let mut req = tonic::Request::new(tokio_stream::iter(items));
        req.metadata_mut().insert("authorization", bearer.clone());
        let answer = client.import_providers(req).await?.into_inner();
        created += answer.created;
        unchanged += answer.unchanged;
        failed += answer.failed;
        if let Some(e) = answer.errors.first() {
            eprintln!("first refused item: {} {} {:?}", e.index, e.reason, e.fields);
        }
        eprint!("\rimported {} of {}", (first + PER_STREAM).min(args.count), args.count);
    }
    eprintln!();
    println!(
        "directory: {} providers in {:.1} s: {created} created, {unchanged} unchanged, {failed} refused",
        args.count,
        started.elapsed().as_secs_f64()
    );
    anyhow::ensure!(failed == 0, "{failed} synthetic providers were refused");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_deterministic_and_varied() {
        let a: Vec<pb::Provider> = (0..500).map(|n| synthetic_provider("o", 7, n)).collect();
        let b: Vec<pb::Provider> = (0..500).map(|n| synthetic_provider("o", 7, n)).collect();
        assert_eq!(a, b, "same seed, same providers");
        assert_ne!(a[0], synthetic_provider("o", 8, 0), "another seed, another directory");
        let kinds: std::collections::HashSet<i32> = a.iter().map(|p| p.kind).collect();
        assert!(kinds.len() >= 6, "{kinds:?}");
        let in_ca = a.iter().filter(|p| p.jurisdictions == ["US-CA"]).count();
        assert!((250..450).contains(&in_ca), "{in_ca}");
        assert!(a.iter().all(|p| !p.levels_of_care.is_empty() && !p.modalities.is_empty()));
    }
}
