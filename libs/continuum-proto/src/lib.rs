//! The shared Continuum API: prost messages and tonic clients and servers generated at build time from
//! `proto/continuum/**` (see `build.rs`), and the encoded descriptor set that every service serves through
//! gRPC reflection. Nothing else lives here; conversions to domain types belong to each service.

#![allow(missing_docs, clippy::all, missing_debug_implementations)]

/// `continuum.common.v1`: vocabulary shared by the services.
pub mod common {
    pub mod v1 {
        tonic::include_proto!("continuum.common.v1");
    }
}

/// `continuum.intake.v1`: the intake service.
pub mod intake {
    pub mod v1 {
        tonic::include_proto!("continuum.intake.v1");
    }
}

/// `continuum.matching.v1`: the matching service.
pub mod matching {
    pub mod v1 {
        tonic::include_proto!("continuum.matching.v1");
    }
}

/// `continuum.referral.v1`: the referral service.
pub mod referral {
    pub mod v1 {
        tonic::include_proto!("continuum.referral.v1");
    }
}

/// `continuum.waitlist.v1`: the waitlist service.
pub mod waitlist {
    pub mod v1 {
        tonic::include_proto!("continuum.waitlist.v1");
    }
}

/// `google.api`: the `field_behavior` annotation (REQUIRED, OUTPUT_ONLY ...) the request fields carry.
pub mod google {
    pub mod api {
        tonic::include_proto!("google.api");
    }
}

/// The encoded `FileDescriptorSet` of every Continuum proto (for server reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/continuum_descriptor.bin"));

/// Fully qualified names of the four services, as health checking and reflection list them.
pub mod service_names {
    /// `continuum.intake.v1.IntakeService`.
    pub const INTAKE: &str = "continuum.intake.v1.IntakeService";
    /// `continuum.matching.v1.MatchingService`.
    pub const MATCHING: &str = "continuum.matching.v1.MatchingService";
    /// `continuum.referral.v1.ReferralService`.
    pub const REFERRAL: &str = "continuum.referral.v1.ReferralService";
    /// `continuum.waitlist.v1.WaitlistService`.
    pub const WAITLIST: &str = "continuum.waitlist.v1.WaitlistService";
}
