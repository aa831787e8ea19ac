//! Field paths checked against the compiled protos: a violation's path (`client.date_of_birth.month`,
//! `screeners.phq9.items[3]`, `reject.reason`) must name fields that exist, field by field, in the request
//! message it answers. The property tests of every service's validators and the fuzz targets (`fuzz/`)
//! check each `INVALID_ARGUMENT` they provoke with [`check_invalid_argument`].
//!
//! The set of messages is read from the descriptor set the proto crate serves for reflection, so a path
//! is checked against exactly the API a client sees.

use std::collections::HashMap;
use std::sync::OnceLock;

use continuum_errors::Error;
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};

/// Every message of the Continuum protos (and their imports), by full name without the leading dot
/// (`continuum.intake.v1.SubmitIntakeRequest`).
#[derive(Debug)]
pub struct ProtoPaths {
    messages: HashMap<String, DescriptorProto>,
}

fn collect(prefix: &str, messages: &[DescriptorProto], out: &mut HashMap<String, DescriptorProto>) {
    for m in messages {
        let name = format!("{prefix}.{}", m.name());
        collect(&name, &m.nested_type, out);
        out.insert(name, m.clone());
    }
}

impl ProtoPaths {
    /// The messages of [`continuum_proto::FILE_DESCRIPTOR_SET`], decoded once per process.
    pub fn get() -> &'static ProtoPaths {
        static PATHS: OnceLock<ProtoPaths> = OnceLock::new();
        PATHS.get_or_init(|| {
            let set = FileDescriptorSet::decode(continuum_proto::FILE_DESCRIPTOR_SET)
                .unwrap_or_else(|e| {
                    panic!("the proto crate's descriptor set does not decode: {e}")
                });
            let mut messages = HashMap::new();
            for file in &set.file {
                collect(file.package(), &file.message_type, &mut messages);
            }
            ProtoPaths { messages }
        })
    }

    /// The descriptor of `message` (a full name), when known.
    pub fn message(&self, message: &str) -> Option<&DescriptorProto> {
        self.messages.get(message)
    }

    /// Checks that `path` resolves in `message` field by field: each segment is a field of the message
    /// reached so far (`[i]` only on a repeated field), every segment but the last names a message field,
    /// and the last may also name a `oneof` ("set exactly one of ..."). `Err` says which segment fails.
    pub fn resolve(&self, message: &str, path: &str) -> Result<(), String> {
        let mut current = self
            .messages
            .get(message)
            .ok_or_else(|| format!("no message {message} in the protos"))?;
        if path.is_empty() {
            return Err(format!("an empty field path (in {message})"));
        }
        let segments: Vec<&str> = path.split('.').collect();
        for (n, segment) in segments.iter().enumerate() {
            let last = n + 1 == segments.len();
            let (name, indexed) = split_index(segment)
                .ok_or_else(|| format!("`{segment}` of `{path}` is not a field name or name[i]"))?;
            let Some(field) = current.field.iter().find(|f| f.name() == name) else {
                if last && !indexed && current.oneof_decl.iter().any(|o| o.name() == name) {
                    return Ok(());
                }
                return Err(format!("`{path}`: {} has no field `{name}`", current.name()));
            };
            if indexed && field.label() != Label::Repeated {
                return Err(format!("`{path}`: `{name}` is not a repeated field"));
            }
            if last {
                return Ok(());
            }
            if field.r#type() != Type::Message {
                return Err(format!("`{path}`: `{name}` is not a message; it has no fields"));
            }
            let type_name = field.type_name().trim_start_matches('.');
            current = self
                .messages
                .get(type_name)
                .ok_or_else(|| format!("`{path}`: no message {type_name} in the protos"))?;
        }
        Ok(())
    }
}

impl ProtoPaths {
    /// Like [`ProtoPaths::resolve`], for the paths the decoder names (`continuum_runtime::decode`): prost
    /// reports an error inside a `oneof` member under the `oneof`'s name, and when several members share
    /// the message type the text cannot say which (`action.appointment_at`: one of four `Appointment`
    /// members), so a `oneof` name may also stand for any of its message members on the way down.
    pub fn resolve_decoded(&self, message: &str, path: &str) -> Result<(), String> {
        let Some((head, rest)) = path.split_once('.') else {
            return self.resolve(message, path);
        };
        let m = self.messages.get(message).ok_or_else(|| format!("no message {message}"))?;
        if let Some(f) = m.field.iter().find(|f| f.name() == head) {
            if f.r#type() != Type::Message {
                return Err(format!("`{path}`: `{head}` is not a message; it has no fields"));
            }
            return self.resolve_decoded(f.type_name().trim_start_matches('.'), rest);
        }
        let Some(o) = m.oneof_decl.iter().position(|o| o.name() == head) else {
            return Err(format!("`{path}`: {} has no field or oneof `{head}`", m.name()));
        };
        let o = i32::try_from(o).unwrap_or(-1);
        let members = m.field.iter().filter(|f| f.oneof_index == Some(o));
        let mut why = format!("`{path}`: no member of oneof `{head}` has `{rest}`");
        for f in members.filter(|f| f.r#type() == Type::Message) {
            match self.resolve_decoded(f.type_name().trim_start_matches('.'), rest) {
                Ok(()) => return Ok(()),
                Err(e) => why = e,
            }
        }
        Err(why)
    }
}

/// `name` or `name[i]` (i decimal): the name and whether it was indexed.
fn split_index(segment: &str) -> Option<(&str, bool)> {
    let (name, indexed) = match segment.strip_suffix(']') {
        Some(rest) => {
            let (name, index) = rest.split_once('[')?;
            if index.is_empty() || !index.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            (name, true)
        }
        None => (segment, false),
    };
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some((name, indexed))
}

/// The fields an `INVALID_ARGUMENT` names, each checked against `message` (a request message's full name);
/// `Err` when the error is any other kind, names no field, or names a path the proto does not have.
pub fn check_invalid_argument(message: &str, err: &Error) -> Result<Vec<String>, String> {
    let Error::InvalidArgument(v) = err else {
        return Err(format!("a {message} was refused with {err:?}, not INVALID_ARGUMENT"));
    };
    if v.is_empty() {
        return Err(format!("an INVALID_ARGUMENT for {message} names no field"));
    }
    let paths = ProtoPaths::get();
    let mut fields = Vec::with_capacity(v.len());
    for f in v.iter() {
        paths.resolve(message, &f.field)?;
        if f.description.trim().is_empty() {
            return Err(format!("`{}` of {message} has no description", f.field));
        }
        fields.push(f.field.clone());
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBMIT: &str = "continuum.intake.v1.SubmitIntakeRequest";
    const TRANSITION: &str = "continuum.referral.v1.TransitionReferralRequest";

    #[test]
    fn real_paths_resolve_field_by_field() {
        let p = ProtoPaths::get();
        for path in [
            "idempotency_key",
            "client.date_of_birth.month",
            "screeners.phq9.items[3]",
            "consent_grants[0].categories[12]",
            "preferences.relational_style.challenge",
        ] {
            assert_eq!(p.resolve(SUBMIT, path), Ok(()), "{path}");
        }
        for path in ["action", "reject.reason", "schedule.appointment_at"] {
            assert_eq!(p.resolve(TRANSITION, path), Ok(()), "{path}");
        }
    }

    #[test]
    fn made_up_paths_do_not() {
        let p = ProtoPaths::get();
        for path in [
            "",
            "client.birthday",
            "client[0].given_name",
            "idempotency_key.x",
            "screeners.phq9.items[x]",
            "grants[0].categories",
            "consent_grants.[0]",
        ] {
            assert!(p.resolve(SUBMIT, path).is_err(), "{path} resolved");
        }
        assert!(p.resolve(TRANSITION, "action.reason").is_err());
        // The decoder's view: a oneof stands for its members.
        assert_eq!(p.resolve_decoded(TRANSITION, "action.appointment_at.seconds"), Ok(()));
        assert_eq!(p.resolve_decoded(TRANSITION, "action.reason"), Ok(()));
        assert!(p.resolve_decoded(TRANSITION, "action.nothing").is_err());
        assert_eq!(p.resolve_decoded(SUBMIT, "client.given_name"), Ok(()));
        assert!(p.resolve("continuum.intake.v1.NoSuchRequest", "x").is_err());
    }

    #[test]
    fn only_invalid_arguments_with_real_paths_pass() {
        let ok = Error::invalid("client.given_name", "is required");
        assert_eq!(check_invalid_argument(SUBMIT, &ok), Ok(vec!["client.given_name".to_owned()]));
        assert!(check_invalid_argument(SUBMIT, &Error::invalid("grants[0]", "x")).is_err());
        assert!(check_invalid_argument(SUBMIT, &Error::not_found("intake", "x")).is_err());
        let none = Error::InvalidArgument(continuum_errors::Violations::default());
        assert!(check_invalid_argument(SUBMIT, &none).is_err());
    }
}
