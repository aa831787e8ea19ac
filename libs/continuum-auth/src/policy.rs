//! Which role may call which RPC. This table is the single source the auth layer enforces and is
//! mirrored, row for row, in `docs/security.md` (a test checks they agree). Which organization's data a
//! permitted caller sees is decided by each service's `app::access`: their own organization's, or what
//! the owner shared with it through a live referral the client consented to.

use crate::Role::{
    self, Clinician as CL, Coordinator as CO, IntakeClerk as IC, Ops as OP, ProviderAdmin as PA,
    Service as SV,
};

/// (full gRPC method path, roles allowed).
pub const POLICY: &[(&str, &[Role])] = &[
    ("/continuum.intake.v1.IntakeService/SubmitIntake", &[IC, CL, CO]),
    ("/continuum.intake.v1.IntakeService/GetIntake", &[IC, CL, CO, SV]),
    ("/continuum.intake.v1.IntakeService/ListIntakes", &[IC, CL, CO]),
    ("/continuum.intake.v1.IntakeService/RecordReassessment", &[CL, CO, SV]),
    ("/continuum.intake.v1.IntakeService/ListAuditEvents", &[OP]),
    ("/continuum.intake.v1.IntakeService/RecordConsent", &[IC, CL, CO]),
    ("/continuum.intake.v1.IntakeService/RevokeConsent", &[IC, CL, CO]),
    ("/continuum.intake.v1.IntakeService/ListCareEvents", &[CL, CO, SV]),
    ("/continuum.intake.v1.IntakeService/CheckCareRelationship", &[SV]),
    ("/continuum.intake.v1.IntakeService/ListClinicalTasks", &[CL, CO]),
    ("/continuum.intake.v1.IntakeService/CompleteClinicalTask", &[CL, CO]),
    ("/continuum.matching.v1.MatchingService/UpsertProvider", &[PA]),
    ("/continuum.matching.v1.MatchingService/ImportProviders", &[PA]),
    ("/continuum.matching.v1.MatchingService/GetProvider", &[IC, CL, CO, PA, SV]),
    ("/continuum.matching.v1.MatchingService/ListProviders", &[IC, CL, CO, PA, SV]),
    ("/continuum.matching.v1.MatchingService/UpdateCapacity", &[PA, SV]),
    ("/continuum.matching.v1.MatchingService/Recommend", &[CL, CO, SV]),
    ("/continuum.matching.v1.MatchingService/RecommendForClient", &[CL, CO, SV]),
    ("/continuum.matching.v1.MatchingService/BatchRecommendForClient", &[CL, CO, SV]),
    ("/continuum.matching.v1.MatchingService/AssignBatch", &[CO, SV]),
    ("/continuum.matching.v1.MatchingService/RecordSessionFeedback", &[CL, SV]),
    ("/continuum.matching.v1.MatchingService/ListCareEvents", &[CL, CO, SV]),
    ("/continuum.referral.v1.ReferralService/CreateReferral", &[CL, CO, SV]),
    ("/continuum.referral.v1.ReferralService/GetReferral", &[CL, CO, SV]),
    ("/continuum.referral.v1.ReferralService/ListReferrals", &[CL, CO, SV]),
    ("/continuum.referral.v1.ReferralService/TransitionReferral", &[CL, CO, SV]),
    ("/continuum.referral.v1.ReferralService/GetCareTimeline", &[CL, CO, SV]),
    ("/continuum.referral.v1.ReferralService/WatchReferrals", &[CO, SV]),
    ("/continuum.referral.v1.ReferralService/GetHandoffPacket", &[CL, CO, SV]),
    ("/continuum.waitlist.v1.WaitlistService/Enqueue", &[CO, SV]),
    ("/continuum.waitlist.v1.WaitlistService/GetEntry", &[CL, CO, SV]),
    ("/continuum.waitlist.v1.WaitlistService/ListWaitlist", &[CL, CO, SV]),
    ("/continuum.waitlist.v1.WaitlistService/OpenSlots", &[CO, PA, SV]),
    ("/continuum.waitlist.v1.WaitlistService/RespondToOffer", &[CO, SV]),
    ("/continuum.waitlist.v1.WaitlistService/RecordCheckIn", &[CL, CO, SV]),
    ("/continuum.waitlist.v1.WaitlistService/EstimateWait", &[CL, CO, SV]),
    ("/continuum.waitlist.v1.WaitlistService/RemoveEntry", &[CO, SV]),
    ("/continuum.waitlist.v1.WaitlistService/GetWaitlistMetrics", &[CO, OP, SV]),
    ("/continuum.waitlist.v1.WaitlistService/ListCareEvents", &[CL, CO, SV]),
];

/// The methods served without credentials: health checking (probes) and reflection (API discovery, no
/// data), in both reflection versions.
pub const PUBLIC: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Paths served without credentials: health checking (probes) and reflection (API discovery, no data).
pub fn is_public(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.")
}

/// Whether `path` is a method some Continuum server serves: an RPC of the table, or a public method. Any
/// other path (a made-up service, an unknown method of a known one) is answered UNIMPLEMENTED before
/// authentication and recorded under one fixed label, so callers cannot create metric series or span
/// names at will.
pub fn is_known(path: &str) -> bool {
    PUBLIC.contains(&path) || allowed(path).is_some()
}

/// The roles allowed to call `path`; `None` for a method not in the table (denied).
pub fn allowed(path: &str) -> Option<&'static [Role]> {
    POLICY.iter().find(|(p, _)| *p == path).map(|(_, r)| *r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for (p, roles) in POLICY {
            assert!(seen.insert(*p), "{p} listed twice");
            assert!(!roles.is_empty());
        }
    }

    #[test]
    fn unknown_methods_are_denied_and_probes_are_public() {
        assert!(allowed("/continuum.intake.v1.IntakeService/DropAll").is_none());
        assert!(is_public("/grpc.health.v1.Health/Check"));
        assert!(!is_public("/continuum.intake.v1.IntakeService/GetIntake"));
    }

    #[test]
    fn only_served_methods_are_known() {
        for (p, _) in POLICY {
            assert!(is_known(p), "{p}");
        }
        for p in PUBLIC {
            assert!(is_known(p) && is_public(p), "{p}");
        }
        for p in [
            "/x.Bogus/Nope",
            "/continuum.intake.v1.IntakeService/DropAll",
            "/grpc.health.v1.Health/Bogus",
            "/",
            "",
        ] {
            assert!(!is_known(p), "{p}");
        }
    }
}

#[cfg(test)]
mod docs {
    use super::*;

    /// The table in docs/security.md must say exactly what the layer enforces.
    #[test]
    fn docs_table_matches_policy() {
        let doc = include_str!("../../../docs/security.md");
        let order = [
            Role::IntakeClerk,
            Role::Clinician,
            Role::Coordinator,
            Role::ProviderAdmin,
            Role::Ops,
            Role::Service,
        ];
        let mut documented = Vec::new();
        for line in doc.lines().filter(|l| l.starts_with("| `continuum.")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let path = format!("/{}", cells[1].trim_matches('`'));
            let roles: Vec<Role> = order
                .iter()
                .zip(&cells[2..8])
                .filter(|(_, c)| **c == "yes")
                .map(|(r, _)| *r)
                .collect();
            documented.push((path, roles));
        }
        assert_eq!(documented.len(), POLICY.len(), "every RPC has one row");
        for (path, roles) in &documented {
            let allowed =
                allowed(path).unwrap_or_else(|| panic!("{path} is documented but not enforced"));
            let mut a: Vec<Role> = allowed.to_vec();
            let mut b = roles.clone();
            a.sort_by_key(|r| r.code());
            b.sort_by_key(|r| r.code());
            assert_eq!(a, b, "{path}");
        }
    }
}
