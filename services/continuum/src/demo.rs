//! The demo directory seeded by `continuum up --demo`: two organizations with individual clinicians of
//! different modalities and relational styles, a skills group, an adolescent IOP, a trauma-focused IOP, a
//! crisis service and peer support, each in a unit of its organization. Seeded through the public
//! `UpsertProvider` RPC, so it passes the same validation as any clinic's data.

use continuum_proto::common::v1::{
    AgeGroup, CareFormat, LevelOfCare, Modality, PaymentOption, RelationalStyle,
};
use continuum_proto::matching::v1 as pb;
use continuum_proto::matching::v1::matching_service_client::MatchingServiceClient;

/// Harbor Community Mental Health (adult outpatient, skills group, crisis team).
pub const HARBOR_ORG: &str = "0190d5a0-0000-7000-8000-000000000001";
/// Riverbend Youth & Family Services (adolescent IOP, trauma-focused IOP, peer support).
pub const RIVERBEND_ORG: &str = "0190d5a0-0000-7000-8000-000000000002";

fn style(
    directiveness: i32,
    emotional_intensity: i32,
    past_orientation: i32,
    challenge: i32,
) -> Option<RelationalStyle> {
    Some(RelationalStyle { directiveness, emotional_intensity, past_orientation, challenge })
}

fn ints<T: Copy + Into<i32>>(xs: &[T]) -> Vec<i32> {
    xs.iter().map(|x| (*x).into()).collect()
}

#[allow(clippy::too_many_arguments)]
fn provider(
    org: &str,
    name: &str,
    kind: pb::ProviderKind,
    levels: &[LevelOfCare],
    ages: &[AgeGroup],
    languages: &[&str],
    modalities: &[Modality],
    payments: &[PaymentOption],
    formats: &[CareFormat],
    slots: i32,
    relational_style: Option<RelationalStyle>,
) -> pb::Provider {
    pb::Provider {
        organization_id: org.into(),
        display_name: name.into(),
        kind: kind as i32,
        levels_of_care: ints(levels),
        age_groups: ints(ages),
        jurisdictions: vec!["US-CA".into()],
        languages: languages.iter().map(|l| (*l).to_owned()).collect(),
        modalities: ints(modalities),
        payment_options: ints(payments),
        formats: ints(formats),
        accepting_new_clients: true,
        open_slots: slots,
        relational_style,
        ..Default::default()
    }
}

/// The demo providers.
pub fn directory() -> Vec<pb::Provider> {
    use AgeGroup::{Adolescent, Adult, Child, OlderAdult};
    use CareFormat::{InPerson, Phone, Video};
    use LevelOfCare::{Crisis, IntensiveOutpatient, Outpatient, SelfGuidedPeer};
    use PaymentOption::{CommercialInsurance, Free, PublicInsurance, SelfPay, SlidingScale};
    let all_pay = [CommercialInsurance, PublicInsurance, SelfPay, SlidingScale];
    let mut crisis = provider(
        HARBOR_ORG,
        "Harbor Mobile Crisis & Stabilisation Team",
        pb::ProviderKind::CrisisService,
        &[Crisis],
        &[Child, Adolescent, Adult, OlderAdult],
        &["en", "es"],
        &[Modality::CrisisIntervention],
        &[CommercialInsurance, PublicInsurance, SelfPay, SlidingScale, Free],
        &[InPerson, Phone, Video],
        2,
        style(2, 0, -3, 0),
    );
    crisis.crisis_capable = true;
    let mut teen_iop = provider(
        RIVERBEND_ORG,
        "Riverbend Adolescent IOP (DBT-informed, family track)",
        pb::ProviderKind::Iop,
        &[IntensiveOutpatient],
        &[Adolescent],
        &["en", "es"],
        &[Modality::Dbt, Modality::FamilyTherapy, Modality::SkillsTraining],
        &all_pay,
        &[InPerson, Video],
        6,
        style(1, 1, 0, 0),
    );
    teen_iop.family_involvement = true;
    vec![
        provider(
            HARBOR_ORG,
            "Dr. Maya Chen (CBT, ACT; structured, present-focused)",
            pb::ProviderKind::Clinician,
            &[Outpatient],
            &[Adult],
            &["en", "zh"],
            &[Modality::Cbt, Modality::Act],
            &[CommercialInsurance, SelfPay],
            &[InPerson, Video],
            3,
            style(2, -1, -2, 2),
        ),
        provider(
            HARBOR_ORG,
            "Jordan Alvarez, LCSW (somatic, IFS; warm, client-led)",
            pb::ProviderKind::Clinician,
            &[Outpatient],
            &[Adult, OlderAdult],
            &["en", "es"],
            &[Modality::Somatic, Modality::Ifs, Modality::PersonCentred],
            &[PublicInsurance, SelfPay, SlidingScale],
            &[InPerson, Video],
            2,
            style(-2, 1, 1, -2),
        ),
        provider(
            HARBOR_ORG,
            "Dr. Sam Okafor (EMDR, CPT; trauma processing)",
            pb::ProviderKind::Clinician,
            &[Outpatient],
            &[Adult],
            &["en"],
            &[Modality::Emdr, Modality::Cpt, Modality::ProlongedExposure],
            &[CommercialInsurance, SelfPay],
            &[InPerson, Video],
            1,
            style(1, 2, 2, 1),
        ),
        provider(
            HARBOR_ORG,
            "Harbor DBT Skills Group",
            pb::ProviderKind::SkillsGroup,
            &[Outpatient, IntensiveOutpatient],
            &[Adolescent, Adult],
            &["en"],
            &[Modality::Dbt, Modality::SkillsTraining],
            &all_pay,
            &[InPerson, Video],
            8,
            style(2, 0, -2, 1),
        ),
        crisis,
        teen_iop,
        provider(
            RIVERBEND_ORG,
            "Riverbend Trauma-Focused IOP (processing track)",
            pb::ProviderKind::TraumaIop,
            &[IntensiveOutpatient],
            &[Adult],
            &["en"],
            &[Modality::Emdr, Modality::Cpt, Modality::Somatic],
            &[CommercialInsurance, PublicInsurance],
            &[InPerson],
            5,
            style(1, 2, 2, 1),
        ),
        provider(
            RIVERBEND_ORG,
            "Riverbend Peer Support Circle",
            pb::ProviderKind::PeerSupport,
            &[SelfGuidedPeer],
            &[Adult, OlderAdult],
            &["en", "es"],
            &[Modality::PeerSupport],
            &[Free],
            &[InPerson, Video],
            10,
            style(-3, 0, 0, -2),
        ),
    ]
    .into_iter()
    .map(|mut p| {
        p.unit = unit_of(&p).to_owned();
        p
    })
    .collect()
}

/// The demo organizations' units (the worklist's unit filter): Harbor's crisis team apart from its adult
/// outpatient team, Riverbend's peer support apart from its youth programs.
fn unit_of(p: &pb::Provider) -> &'static str {
    use pb::ProviderKind::{CrisisService, PeerSupport};
    let kind = pb::ProviderKind::try_from(p.kind).unwrap_or_default();
    match (p.organization_id.as_str(), kind) {
        (HARBOR_ORG, CrisisService) => "Crisis team",
        (HARBOR_ORG, _) => "Adult outpatient team",
        (_, PeerSupport) => "Peer support",
        _ => "Youth programs",
    }
}

/// Seeds the demo directory through matching at `addr` when it is empty; returns how many were created.
pub async fn seed_if_empty(addr: &str, minter: &continuum_auth::Minter) -> anyhow::Result<usize> {
    use continuum_auth::Role;
    let channel = continuum_runtime::peer_channel(addr)?;
    let ttl = std::time::Duration::from_secs(300);
    let bearer =
        |org: &str| -> anyhow::Result<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> {
            Ok(format!(
                "Bearer {}",
                minter.dev_user_token("demo-seed", org, &[Role::ProviderAdmin], ttl)?
            )
            .parse()?)
        };
    let mut client = MatchingServiceClient::new(channel);
    let mut list =
        tonic::Request::new(pb::ListProvidersRequest { page_size: 1, ..Default::default() });
    list.metadata_mut().insert("authorization", bearer(HARBOR_ORG)?);
    let existing = client.list_providers(list).await?.into_inner();
    if !existing.providers.is_empty() {
        return Ok(0);
    }
    let providers = directory();
    let n = providers.len();
    for p in providers {
        // Each organization's administrator writes its own entries.
        let value = bearer(&p.organization_id)?;
        let mut req = tonic::Request::new(pb::UpsertProviderRequest {
            provider: Some(p),
            expected_version: 0,
        });
        req.metadata_mut().insert("authorization", value);
        client.upsert_provider(req).await?;
    }
    Ok(n)
}

/// How long a token of the console's development sign-in lives.
pub const DEV_SIGN_IN_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// The console's development sign-in under `up --demo`: a coordinator of each demo organization and a
/// Harbor clinician, with short-lived tokens minted by `minter` (the local development secret).
pub fn dev_sign_in(minter: continuum_auth::Minter) -> gateway::console::DevSignIn {
    use continuum_auth::Role;
    let user = |key: &str, label: &str, org: &str, org_name: &str, roles: &[Role]| {
        gateway::console::DevUser {
            key: key.to_owned(),
            label: label.to_owned(),
            organization_id: org.to_owned(),
            organization_name: org_name.to_owned(),
            roles: roles.iter().map(|r| r.code().to_owned()).collect(),
        }
    };
    let users = vec![
        user(
            "harbor-coordinator",
            "Harbor coordinator",
            HARBOR_ORG,
            "Harbor Community Mental Health",
            &[Role::Coordinator],
        ),
        user(
            "riverbend-coordinator",
            "Riverbend coordinator",
            RIVERBEND_ORG,
            "Riverbend Youth & Family Services",
            &[Role::Coordinator],
        ),
        user(
            "harbor-clinician",
            "Harbor clinician",
            HARBOR_ORG,
            "Harbor Community Mental Health",
            &[Role::Clinician],
        ),
    ];
    let mint = std::sync::Arc::new(move |u: &gateway::console::DevUser| {
        let roles: Vec<Role> = u.roles.iter().filter_map(|r| Role::from_code(r)).collect();
        minter.dev_user_token(
            &format!("demo-{}", u.key),
            &u.organization_id,
            &roles,
            DEV_SIGN_IN_TTL,
        )
    });
    gateway::console::DevSignIn { users, mint }
}

/// Example calls to paste (grpcurl through server reflection).
pub fn how_to_call(intake: &str, matching: &str) -> String {
    format!(
        r#"
Try it (grpcurl reads the API through server reflection; TOKEN is printed below):
  grpcurl -plaintext {intake} list
  grpcurl -plaintext {intake} grpc.health.v1.Health/Check
  grpcurl -plaintext -H "authorization: Bearer $TOKEN" -d '{{"page_size": 20}}' {matching} continuum.matching.v1.MatchingService/ListProviders
  grpcurl -plaintext -H "authorization: Bearer $TOKEN" -d '{{
      "idempotency_key": "demo-0001",
      "organization_id": "{HARBOR_ORG}",
      "client": {{"given_name": "Avery", "family_name": "Example",
                  "date_of_birth": {{"year": 1990, "month": 4, "day": 12}},
                  "preferred_language": "en", "jurisdiction": "US-CA",
                  "payment_option": "PAYMENT_OPTION_SELF_PAY"}},
      "screeners": {{"phq9": {{"items": [2,2,1,1,1,1,1,2,0]}}}},
      "consent": {{"share_with_referral_recipient": true}}
    }}' {intake} continuum.intake.v1.IntakeService/SubmitIntake
  grpcurl -plaintext -H "authorization: Bearer $TOKEN" -d '{{"intake_id": "<id from the answer>"}}' {intake} continuum.intake.v1.IntakeService/GetIntake"#
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_directory_covers_the_kinds_the_demo_promises() {
        let d = super::directory();
        use continuum_proto::matching::v1::ProviderKind as K;
        for k in [K::Clinician, K::SkillsGroup, K::Iop, K::TraumaIop, K::CrisisService] {
            assert!(d.iter().any(|p| p.kind == k as i32), "{k:?} missing");
        }
        let orgs: std::collections::HashSet<_> =
            d.iter().map(|p| p.organization_id.clone()).collect();
        assert_eq!(orgs.len(), 2);
    }
}
