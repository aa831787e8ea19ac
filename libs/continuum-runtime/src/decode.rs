//! Requests that cannot be decoded are bad input, not the service's fault (issue 17).
//!
//! tonic answers a request whose protobuf cannot be decoded (an invalid varint, a string that is not UTF-8,
//! a wrong wire type) and a unary call without a message with `INTERNAL`. The service's error-rate alert
//! counts `INTERNAL`, so one client sending garbage would page on-call. This layer, innermost in every
//! service's stack, turns exactly those answers into `INVALID_ARGUMENT` with a `google.rpc.BadRequest`
//! naming the field the decoder names (`client.given_name`), through the one error mapping
//! (`continuum_errors`); a message over the size limit, which tonic answers `OUT_OF_RANGE`, answers
//! `RESOURCE_EXHAUSTED` as gRPC's convention has it. Every other `INTERNAL` stays what it is. Nothing of the request is echoed: the
//! decoder's text names message and field types only.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use continuum_errors::{Error, Violations};
use tonic::Code;

/// What prost prefixes to every decode error.
const DECODE_PREFIX: &str = "failed to decode Protobuf message: ";
/// tonic's answer to a message over the decoding limit.
const TOO_LARGE_PREFIX: &str = "Error, decoded message length too large";
/// tonic's answer to a unary call whose body carried no message.
const MISSING_MESSAGE: &str = "Missing request message.";

/// The field path and the reason of a decoder's complaint: prost lists the (message, field) pairs
/// innermost first (`ClientDetails.given_name: SubmitIntakeRequest.client: invalid string value`); the
/// path is their field names outermost first (`client.given_name`), `request` when it names none.
pub fn decode_violation(message: &str) -> Option<(String, String)> {
    if message == MISSING_MESSAGE {
        return Some((
            "request".to_owned(),
            "is missing: the call carried no request message".into(),
        ));
    }
    let rest = message.strip_prefix(DECODE_PREFIX)?;
    let mut fields = Vec::new();
    let mut parts = rest.split(": ").peekable();
    let mut reason = String::new();
    while let Some(part) = parts.next() {
        let is_frame = parts.peek().is_some()
            && part.split_once('.').is_some_and(|(m, f)| {
                !m.is_empty()
                    && !f.is_empty()
                    && m.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if is_frame {
            if let Some((_, field)) = part.split_once('.') {
                fields.push(field.trim_start_matches("r#").to_owned());
            }
        } else {
            reason = std::iter::once(part).chain(parts.by_ref()).collect::<Vec<_>>().join(": ");
        }
    }
    fields.reverse();
    let path = if fields.is_empty() { "request".to_owned() } else { fields.join(".") };
    let path = name_oneof_members(message, path);
    Some((path, format!("could not be decoded ({reason})")))
}

/// The (message, field) frames of a decoder's text, outermost first.
fn frames(message: &str) -> Vec<(&str, &str)> {
    let Some(rest) = message.strip_prefix(DECODE_PREFIX) else { return Vec::new() };
    let mut out: Vec<(&str, &str)> = rest
        .split(": ")
        .filter_map(|part| part.split_once('.'))
        .filter(|(m, f)| {
            !m.is_empty()
                && !f.is_empty()
                && m.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .collect();
    out.reverse();
    out
}

/// Names the `oneof` members in a decoder's path: prost reports an error inside a `oneof` member under
/// the `oneof`'s name (`TransitionReferralRequest.action`), which is no field of the request; the next
/// frame names the member's message type (`Schedule`), and when exactly one member of the `oneof` has
/// that type the path names that member (`schedule.appointment_at`). A member the text cannot single out
/// (several members of one type, or a scalar member) keeps the `oneof`'s name.
fn name_oneof_members(message: &str, path: String) -> String {
    use prost::Message as _;
    use std::sync::OnceLock;
    static SET: OnceLock<Option<prost_types::FileDescriptorSet>> = OnceLock::new();
    let Some(set) = SET
        .get_or_init(|| {
            prost_types::FileDescriptorSet::decode(continuum_proto::FILE_DESCRIPTOR_SET).ok()
        })
        .as_ref()
    else {
        return path;
    };
    let find = |name: &str| {
        fn walk<'a>(
            ms: &'a [prost_types::DescriptorProto],
            name: &str,
        ) -> Option<&'a prost_types::DescriptorProto> {
            ms.iter()
                .find(|m| m.name() == name)
                .or_else(|| ms.iter().find_map(|m| walk(&m.nested_type, name)))
        }
        set.file.iter().find_map(|f| walk(&f.message_type, name))
    };
    let frames = frames(message);
    let mut segments: Vec<String> = path.split('.').map(str::to_owned).collect();
    if segments.len() != frames.len() {
        return path;
    }
    for (i, (msg, field)) in frames.iter().enumerate() {
        let Some((next_type, _)) = frames.get(i + 1) else { break };
        let Some(m) = find(msg) else { continue };
        if m.field.iter().any(|f| f.name() == *field) {
            continue;
        }
        let Some(o) = m.oneof_decl.iter().position(|o| o.name() == *field) else { continue };
        let o = i32::try_from(o).unwrap_or(-1);
        let mut members = m.field.iter().filter(|f| {
            f.oneof_index == Some(o) && f.type_name().rsplit('.').next() == Some(*next_type)
        });
        if let (Some(member), None) = (members.next(), members.next()) {
            segments[i] = member.name().to_owned();
        }
    }
    segments.join(".")
}

/// The [`DecodeErrorService`] layer.
#[derive(Clone, Copy, Debug, Default)]
pub struct DecodeErrorLayer;

impl<S> tower::Layer<S> for DecodeErrorLayer {
    type Service = DecodeErrorService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DecodeErrorService { inner }
    }
}

/// Rewrites tonic's `INTERNAL` decode failures as `INVALID_ARGUMENT` naming the field.
#[derive(Clone, Debug)]
pub struct DecodeErrorService<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for DecodeErrorService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await?;
            // A decode failure is answered before any message: its status is in the headers.
            let Some(status) = tonic::Status::from_header_map(res.headers()) else {
                return Ok(res);
            };
            // tonic answers an oversized message OUT_OF_RANGE; gRPC's own convention is RESOURCE_EXHAUSTED.
            if status.code() == Code::OutOfRange && status.message().starts_with(TOO_LARGE_PREFIX) {
                let limit = crate::MAX_MESSAGE_BYTES;
                return Ok(tonic::Status::from(Error::TooLarge { limit }).into_http());
            }
            if status.code() != Code::Internal {
                return Ok(res);
            }
            let Some((field, reason)) = decode_violation(status.message()) else {
                return Ok(res);
            };
            let mut v = Violations::default();
            v.add(field, reason);
            let status = tonic::Status::from(Error::InvalidArgument(v));
            Ok(status.into_http())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoders_field_path_is_named_outermost_first() {
        let msg = "failed to decode Protobuf message: ClientDetails.given_name: SubmitIntakeRequest.client: invalid string value: data is not UTF-8 encoded";
        let (field, reason) = decode_violation(msg).unwrap_or_default();
        assert_eq!(field, "client.given_name");
        assert_eq!(
            reason,
            "could not be decoded (invalid string value: data is not UTF-8 encoded)"
        );
        let (field, _) = decode_violation("failed to decode Protobuf message: invalid varint")
            .unwrap_or_default();
        assert_eq!(field, "request");
        let (field, _) = decode_violation(MISSING_MESSAGE).unwrap_or_default();
        assert_eq!(field, "request");
        assert_eq!(decode_violation("database: connection reset"), None);
    }

    #[test]
    fn an_error_inside_a_oneof_member_names_the_member_when_its_type_says_which() {
        let schedule = "failed to decode Protobuf message: Timestamp.seconds: Schedule.appointment_at: TransitionReferralRequest.action: invalid wire type: LengthDelimited (expected Varint)";
        let (field, _) = decode_violation(schedule).unwrap_or_default();
        assert_eq!(field, "schedule.appointment_at.seconds");
        let accept = "failed to decode Protobuf message: Accept.appointment_at: RespondToOfferRequest.answer: buffer underflow";
        let (field, _) = decode_violation(accept).unwrap_or_default();
        assert_eq!(field, "accept.appointment_at");
        // Four members are Appointments: the text cannot say which, so the oneof keeps its name.
        let appointment = "failed to decode Protobuf message: Appointment.appointment_at: TransitionReferralRequest.action: buffer underflow";
        let (field, _) = decode_violation(appointment).unwrap_or_default();
        assert_eq!(field, "action.appointment_at");
    }
}
