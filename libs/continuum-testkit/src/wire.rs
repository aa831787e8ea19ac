//! Proptest strategies for hostile but well-formed requests, driven by the compiled protos: a request is a
//! valid one (or an empty one) followed by extra field records appended at the wire level. Protobuf merges
//! what is appended — a scalar replaces the value, a repeated field grows, a nested message is merged into,
//! a `oneof` member switches the case — so every request decodes to the generated type, yet any field at
//! any depth may now hold an arbitrary string, an out-of-range number, an unknown enum value, a NaN, or a
//! list hundreds of items long.
//!
//! Used by the property tests of every service's validators with [`check_outcome`]: any request either
//! converts or is refused with `INVALID_ARGUMENT` naming fields that exist in the proto, in a bounded
//! answer.

use continuum_errors::{Error, MAX_LISTED_VIOLATIONS};
use proptest::prelude::*;
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};
use prost_types::field_descriptor_proto::{Label, Type};

use crate::proto_paths::{ProtoPaths, check_invalid_argument};

/// Largest status details (the encoded `google.rpc.Status`) an answer may carry: default gRPC clients
/// refuse metadata over 8 KiB and would never see the `INVALID_ARGUMENT`.
pub const MAX_DETAILS_BYTES: usize = 8 * 1024;

/// Deepest field path the strategies reach (`preferences.relational_style.challenge` is 3).
const MAX_DEPTH: usize = 4;

/// One field on the way to a leaf: its number, type and whether it is repeated.
#[derive(Clone, Debug)]
struct Step {
    number: u32,
    kind: Type,
    repeated: bool,
}

/// Every path from `message` down to a field (message fields included, as leaves too), at most
/// [`MAX_DEPTH`] deep.
fn leaf_paths(paths: &ProtoPaths, message: &str) -> Vec<Vec<Step>> {
    fn walk(paths: &ProtoPaths, message: &str, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        let Some(m) = paths.message(message) else { return };
        for f in &m.field {
            let step = Step {
                number: u32::try_from(f.number()).unwrap_or(1),
                kind: f.r#type(),
                repeated: f.label() == Label::Repeated,
            };
            prefix.push(step);
            out.push(prefix.clone());
            if f.r#type() == Type::Message && prefix.len() < MAX_DEPTH {
                walk(paths, f.type_name().trim_start_matches('.'), prefix, out);
            }
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    walk(paths, message, &mut Vec::new(), &mut out);
    out
}

/// A value for one leaf, already encoded as the field's payload.
#[derive(Clone, Debug)]
enum Value {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(Vec<u8>),
}

/// Strings that are valid somewhere (ids, codes, tags) and strings that are not anywhere.
fn string() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "",
            " ",
            "0190d5a0-0000-7000-8000-000000000001",
            "0190D5A0-0000-7000-8000-0000000000A1",
            "0190d5a0-0000-7000-8000-00000000000",
            "not-a-uuid",
            "en",
            "es-MX",
            "US-CA",
            "us-ca",
            "US-CA-SF",
            "lgbtq-affirming",
            "Bad Code!",
            "avery@example.org",
            "+1 415 555 0100",
            "0",
            "MTIz",
            "é",
        ])
        .prop_map(str::to_owned),
        2 => "\\PC{0,40}",
        1 => (0usize..4, prop::sample::select(vec!['a', 'é', '-', '😀']))
            .prop_map(|(n, c)| c.to_string().repeat([65, 129, 201, 10_001][n])),
    ]
    .boxed()
}

fn int64() -> BoxedStrategy<i64> {
    prop_oneof![
        3 => -3i64..=30,
        1 => any::<i64>(),
        1 => prop::sample::select(vec![
            i64::MIN,
            i64::MAX,
            i64::from(i32::MIN),
            i64::from(i32::MAX),
            253_402_300_800,
            1_000_000_000,
            -62_135_596_801,
        ]),
    ]
    .boxed()
}

fn int32() -> BoxedStrategy<i32> {
    prop_oneof![
        4 => -3i32..=30,
        1 => any::<i32>(),
        1 => prop::sample::select(vec![i32::MIN, i32::MAX, 100, 101, 1_000, 1_000_000_000]),
    ]
    .boxed()
}

fn double() -> BoxedStrategy<f64> {
    prop_oneof![
        2 => -200.0f64..200.0,
        1 => any::<f64>(),
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 10.0]),
    ]
    .boxed()
}

fn value(kind: Type) -> BoxedStrategy<Value> {
    match kind {
        Type::String => string().prop_map(|s| Value::Bytes(s.into_bytes())).boxed(),
        Type::Bytes => prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes).boxed(),
        Type::Bool => any::<bool>().prop_map(|b| Value::Varint(u64::from(b))).boxed(),
        // int32 and enums: a negative number is sign-extended to ten bytes on the wire.
        Type::Int32 | Type::Enum => {
            int32().prop_map(|x| Value::Varint(i64::from(x) as u64)).boxed()
        }
        Type::Int64 => int64().prop_map(|x| Value::Varint(x as u64)).boxed(),
        Type::Uint32 | Type::Uint64 => any::<u32>().prop_map(|x| Value::Varint(x.into())).boxed(),
        Type::Sint32 => {
            int32().prop_map(|x| Value::Varint(((x << 1) ^ (x >> 31)) as u32 as u64)).boxed()
        }
        Type::Sint64 => int64().prop_map(|x| Value::Varint(((x << 1) ^ (x >> 63)) as u64)).boxed(),
        Type::Double => double().prop_map(|x| Value::Fixed64(x.to_bits())).boxed(),
        Type::Float => double().prop_map(|x| Value::Fixed32((x as f32).to_bits())).boxed(),
        Type::Fixed64 | Type::Sfixed64 => any::<u64>().prop_map(Value::Fixed64).boxed(),
        Type::Fixed32 | Type::Sfixed32 => any::<u32>().prop_map(Value::Fixed32).boxed(),
        // A message leaf: present but empty (its fields at their defaults).
        Type::Message | Type::Group => Just(Value::Bytes(Vec::new())).boxed(),
    }
}

fn record(number: u32, v: &Value, buf: &mut Vec<u8>) {
    match v {
        Value::Varint(x) => {
            encode_key(number, WireType::Varint, buf);
            encode_varint(*x, buf);
        }
        Value::Fixed64(x) => {
            encode_key(number, WireType::SixtyFourBit, buf);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        Value::Fixed32(x) => {
            encode_key(number, WireType::ThirtyTwoBit, buf);
            buf.extend_from_slice(&x.to_le_bytes());
        }
        Value::Bytes(b) => {
            encode_key(number, WireType::LengthDelimited, buf);
            encode_varint(b.len() as u64, buf);
            buf.extend_from_slice(b);
        }
    }
}

/// The records that set `path`'s leaf to `v`, `times` times over (a repeated leaf grows by `times`
/// items; a singular one ends with the last), wrapped in their parents.
fn encode_path(path: &[Step], v: &Value, times: usize) -> Vec<u8> {
    let Some((leaf, parents)) = path.split_last() else { return Vec::new() };
    let mut inner = Vec::new();
    for _ in 0..times.max(1) {
        record(leaf.number, v, &mut inner);
    }
    for p in parents.iter().rev() {
        let mut outer = Vec::new();
        record(p.number, &Value::Bytes(inner), &mut outer);
        inner = outer;
    }
    inner
}

/// One appended change: a leaf of `message`, a value of its type, and how often (long lists).
fn change(paths: Vec<Vec<Step>>) -> BoxedStrategy<Vec<u8>> {
    prop::sample::select(paths)
        .prop_flat_map(|path| {
            let leaf = path.last().cloned();
            let kind = leaf.as_ref().map_or(Type::Bool, |l| l.kind);
            let repeated = leaf.is_some_and(|l| l.repeated);
            let times: BoxedStrategy<usize> = if repeated {
                prop_oneof![6 => 1usize..4, 1 => Just(25usize), 1 => 90usize..140, 1 => Just(1_200usize)]
                    .boxed()
            } else {
                Just(1usize).boxed()
            };
            (Just(path), value(kind), times)
        })
        .prop_map(|(path, v, times)| encode_path(&path, &v, times))
        .boxed()
}

/// Encoded `message`s (a full proto name): `valid` (or, one time in five, an empty message) with up to
/// eight changes appended anywhere in it.
pub fn mutated<M: Message>(message: &str, valid: &M) -> BoxedStrategy<Vec<u8>> {
    let paths = leaf_paths(ProtoPaths::get(), message);
    assert!(!paths.is_empty(), "no fields found for {message}");
    let base = valid.encode_to_vec();
    (
        prop_oneof![4 => Just(base), 1 => Just(Vec::new())],
        prop::collection::vec(change(paths), 0..8),
    )
        .prop_map(|(mut bytes, changes)| {
            for c in changes {
                bytes.extend_from_slice(&c);
            }
            bytes
        })
        .boxed()
}

/// The property of a validator's outcome on one `message`: it converted, or it was refused with an
/// `INVALID_ARGUMENT` whose every field path exists in the proto and whose answer is bounded (at most
/// [`MAX_LISTED_VIOLATIONS`] listed, status details under [`MAX_DETAILS_BYTES`]). `Err` says why not.
pub fn check_outcome<T>(message: &str, outcome: &Result<T, Error>) -> Result<(), String> {
    let Err(err) = outcome else { return Ok(()) };
    check_invalid_argument(message, err)?;
    if let Error::InvalidArgument(v) = err {
        let (listed, _) = v.bounded();
        if listed.is_empty() || listed.len() > MAX_LISTED_VIOLATIONS {
            return Err(format!("{} violations listed of {}", listed.len(), v.len()));
        }
        let status = tonic::Status::from(Error::InvalidArgument(v.clone()));
        let size = status.details().len() + status.message().len();
        if size > MAX_DETAILS_BYTES {
            return Err(format!("an answer of {size} bytes for {} violations", v.len()));
        }
    }
    Ok(())
}

/// Decodes `bytes` as `M` (a request of the proto `message`; [`mutated`] requests always decode), runs
/// the validator `convert` on it and checks the outcome with [`check_outcome`].
pub fn check_rpc<M, T>(
    message: &str,
    bytes: &[u8],
    convert: impl FnOnce(M) -> Result<T, Error>,
) -> Result<(), TestCaseError>
where
    M: Message + Default,
{
    let request = M::decode(bytes)
        .map_err(|e| TestCaseError::fail(format!("a generated {message} does not decode: {e}")))?;
    check_outcome(message, &convert(request)).map_err(TestCaseError::fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use continuum_proto::intake::v1 as ipb;

    const SUBMIT: &str = "continuum.intake.v1.SubmitIntakeRequest";

    #[test]
    fn paths_reach_nested_and_repeated_fields() {
        let paths = leaf_paths(ProtoPaths::get(), SUBMIT);
        // client.date_of_birth.month: 5 -> 3 -> 2.
        assert!(paths.iter().any(|p| p.iter().map(|s| s.number).collect::<Vec<_>>() == [5, 3, 2]));
        assert!(paths.iter().any(|p| p.len() == 1 && p[0].repeated));
    }

    proptest! {
        #[test]
        fn every_mutation_decodes(bytes in mutated(SUBMIT, &crate::requests::submit_intake("k"))) {
            prop_assert!(ipb::SubmitIntakeRequest::decode(&bytes[..]).is_ok());
        }
    }
}
