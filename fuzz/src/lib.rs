//! The project's own fuzz targets, as a library the thin `fuzz_targets/*.rs` call (and the seed corpus
//! test reads): the path from raw bytes to a domain command of every RPC of the four services, and
//! intake's rules engine.
//!
//! A request target reads its first byte as the RPC (its index in the target's `RPCS`, modulo their
//! number) and the rest as that RPC's request message, then runs exactly what the gRPC handler runs
//! before the use case: prost's decoder, then the service's `convert` validator. Whatever the bytes:
//! - nothing panics (libFuzzer reports a crash), and no input overflows arithmetic (debug assertions on);
//! - bytes that do not decode answer `INVALID_ARGUMENT` naming a field the request message has (or
//!   `request` when the decoder names none), as `continuum_runtime::decode` does on the wire (a `oneof`
//!   whose member the decoder's text cannot single out keeps its name: `ProtoPaths::resolve_decoded`);
//! - a request that decodes converts, or is refused with `INVALID_ARGUMENT` — never another error — whose
//!   violations each name a field path that exists in the proto, field by field
//!   (`continuum_testkit::proto_paths`), in an answer that lists at most 100 of them in under 8 KiB
//!   (`continuum_testkit::wire::check_outcome`), and records at most [`VIOLATIONS_PER_BYTE`] violations
//!   per request byte (plus the required fields of an empty request): list caps mean a hostile list
//!   costs one violation, not one per element.
//! - an accepted submission (and a re-screen of it) is assessed, and the assessment keeps the rules
//!   engine's invariants (`intake_rules::check`).

pub mod harness;
pub mod intake_requests;
pub mod intake_rules;
pub mod matching_requests;
pub mod referral_requests;
pub mod seeds;
pub mod waitlist_requests;

pub use harness::VIOLATIONS_PER_BYTE;
