//! What every request target checks of one RPC's bytes (see the crate docs).

use std::sync::atomic::{AtomicUsize, Ordering};

use continuum_errors::{Error, Violations};
use continuum_testkit::proto_paths::ProtoPaths;
use continuum_testkit::wire::{MAX_DETAILS_BYTES, check_outcome};
use prost::Message;

/// Most violations one request byte may cost: an empty element of a repeated message (two bytes) can
/// lack several required fields at once.
pub const VIOLATIONS_PER_BYTE: usize = 2;
/// Violations an empty request may have without any byte: its required fields.
const VIOLATIONS_OF_NOTHING: usize = 64;

/// One RPC of a target: its request message (full proto name) and the validator run on its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Rpc {
    /// The RPC's name, for seed file names and failures.
    pub name: &'static str,
    /// The request message's full proto name.
    pub message: &'static str,
    /// Decodes and validates (see [`rpc`]).
    pub run: fn(&'static str, &[u8]),
}

/// How many requests the validators accepted in this process (the seed test reads it).
pub static ACCEPTED: AtomicUsize = AtomicUsize::new(0);

/// The selector byte of the RPC `name` of `rpcs`.
pub fn index_of(rpcs: &[Rpc], name: &str) -> u8 {
    let index = rpcs.iter().position(|x| x.name == name).unwrap_or_else(|| panic!("no RPC {name}"));
    u8::try_from(index).unwrap_or_else(|_| panic!("RPC index {index}"))
}

/// Runs the RPC the first byte of `data` picks among `rpcs` on the rest.
pub fn dispatch(rpcs: &[Rpc], data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else { return };
    if rpcs.is_empty() {
        return;
    }
    let rpc = &rpcs[usize::from(selector) % rpcs.len()];
    (rpc.run)(rpc.message, bytes);
}

/// Decodes `bytes` as `M`, the request message `message`, runs the validator `convert` on it and checks
/// the outcome; an accepted request is handed to `accepted` (further properties of the command).
pub fn rpc<M, T>(
    message: &str,
    bytes: &[u8],
    convert: impl FnOnce(M) -> Result<T, Error>,
    accepted: impl FnOnce(&T),
) where
    M: Message + Default,
{
    let request = match M::decode(bytes) {
        Ok(r) => r,
        Err(e) => return undecodable(message, &e),
    };
    let outcome = convert(request);
    if let Err(why) = check_outcome(message, &outcome) {
        panic!("{message}: {why}");
    }
    match &outcome {
        Ok(command) => {
            ACCEPTED.fetch_add(1, Ordering::Relaxed);
            accepted(command)
        }
        Err(Error::InvalidArgument(v)) => within_budget(message, v, bytes.len()),
        Err(_) => {}
    }
}

/// A request of `bytes.len()` bytes records at most [`VIOLATIONS_PER_BYTE`] violations per byte.
fn within_budget(message: &str, v: &Violations, len: usize) {
    let budget = VIOLATIONS_PER_BYTE * len + VIOLATIONS_OF_NOTHING;
    assert!(
        v.len() <= budget,
        "{message}: {} violations for a {len}-byte request (budget {budget})",
        v.len()
    );
}

/// What the service answers to bytes that do not decode: `INVALID_ARGUMENT` naming the field the decoder
/// names, which must exist in the request message (`request` when it names none).
fn undecodable(message: &str, e: &prost::DecodeError) {
    // tonic's text for a decode error is the DecodeError's (`Status::internal(e.to_string())`).
    let text = e.to_string();
    let Some((field, reason)) = continuum_runtime::decode::decode_violation(&text) else {
        panic!("{message}: the decode error {text:?} is not recognised as bad input");
    };
    assert!(!reason.is_empty(), "{message}: no reason for {text:?}");
    if field != "request"
        && let Err(why) = ProtoPaths::get().resolve_decoded(message, &field)
    {
        panic!("{message}: the decoder's field does not resolve: {why} (from {text:?})");
    }
    let mut v = Violations::default();
    v.add(field, reason);
    let status = tonic::Status::from(Error::InvalidArgument(v));
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.details().len() + status.message().len() <= MAX_DETAILS_BYTES);
}
