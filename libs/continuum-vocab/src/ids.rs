//! Typed entity ids, parsed once at the gRPC edge.
//!
//! Every id in Continuum is a UUID. On the wire and in the tables it is a string; inside a service it is
//! one of these newtypes, so a client id cannot be passed where a referral id belongs. Each holds the
//! canonical form — lowercase, hyphenated (8-4-4-4-12) — and is made only by [`parse`](ClientId::parse),
//! the edge validators `require` / `optional` (which name the bad field exactly as every service always
//! has: "is required", "must be a UUID"), [`new_v7`](ClientId::new_v7), or [`from_stored`](ClientId::from_stored)
//! for rows the service wrote itself.
//!
//! Serde is transparent: an id serializes as its plain string, so stored JSON and outbox payloads keep
//! their shape. (Deserialization does not re-validate: such JSON is only ever written by us.)

/// Declares typed id newtypes over a canonical lowercase hyphenated UUID string. See the module docs for
/// the generated API. `require` and `optional` replace `Violations::require_uuid` / `optional_uuid` and
/// keep their messages ("is required", "must be a UUID"), which the services' tests pin.
#[macro_export]
macro_rules! id_types {
    ($($(#[$m:meta])* $name:ident => $what:literal;)+) => {$(
        $(#[$m])*
        #[derive(
            Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// What this id names, for `NOT_FOUND` and `Unexpected` messages.
            pub const RESOURCE: &'static str = $what;

            /// A fresh time-ordered id (UUID v7).
            pub fn new_v7() -> Self {
                Self(::uuid::Uuid::now_v7().hyphenated().to_string())
            }

            /// The id in `s` if it is a hyphenated UUID (any case), normalised to lowercase.
            pub fn parse(s: &str) -> Option<Self> {
                $crate::ids::is_uuid(s).then(|| Self(s.to_ascii_lowercase()))
            }

            /// An id Continuum wrote itself (a stored row, a peer service's answer); a malformed one is
            /// an unexpected error, not the caller's.
            pub fn from_stored(s: impl AsRef<str>) -> ::continuum_errors::Result<Self> {
                let s = s.as_ref();
                Self::parse(s).ok_or_else(|| {
                    ::continuum_errors::Error::Unexpected(::anyhow::anyhow!(
                        "stored {} id is not a UUID: {s:?}",
                        $what
                    ))
                })
            }

            /// Reads a required id field, recording a violation at `field` when it is empty ("is
            /// required") or not a UUID ("must be a UUID").
            pub fn require(v: &mut $crate::Violations, field: &str, value: &str) -> Option<Self> {
                if value.is_empty() {
                    v.add(field, "is required");
                    return None;
                }
                Self::optional(v, field, value)
            }

            /// Reads an optional id field (empty means absent), recording a violation at `field` when it
            /// is not a UUID.
            pub fn optional(v: &mut $crate::Violations, field: &str, value: &str) -> Option<Self> {
                if value.is_empty() {
                    return None;
                }
                let id = Self::parse(value);
                if id.is_none() {
                    v.add(field, "must be a UUID");
                }
                id
            }

            /// Reads the items of a repeated id field, each as [`Self::require`] at `field[i]`; an id listed
            /// before it, or equal to `besides` (the request's own id of the same kind), is refused there as
            /// "is listed twice". The ids, in order, each once. Check the list's length first: a list over
            /// its limit is refused as one bad field, its items unread.
            pub fn require_each_once(
                v: &mut $crate::Violations,
                field: &str,
                values: &[String],
                besides: Option<&Self>,
            ) -> Vec<Self> {
                let mut out: Vec<Self> = Vec::with_capacity(values.len());
                for (i, value) in values.iter().enumerate() {
                    let at = format!("{field}[{i}]");
                    if let Some(id) = Self::require(v, &at, value) {
                        if out.contains(&id) || besides == Some(&id) {
                            v.add(at, "is listed twice");
                        } else {
                            out.push(id);
                        }
                    }
                }
                out
            }

            /// The canonical string.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The canonical string, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::convert::From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl ::std::convert::AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl ::std::cmp::PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl ::std::cmp::PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl ::std::cmp::PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl ::std::cmp::PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl ::std::cmp::PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl ::std::cmp::PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    )+};
}

/// Whether `s` is a hyphenated UUID (8-4-4-4-12 hex digits, any case).
pub use continuum_errors::is_uuid;

id_types! {
    /// An organization (tenant): a clinic, a provider group, a program operator.
    OrganizationId => "organization";
    /// A client (the person receiving care).
    ClientId => "client";
    /// One intake of a client.
    IntakeId => "intake";
    /// An assessment (scores, risk, level of care) of an intake.
    AssessmentId => "assessment";
    /// A provider or program in the matching directory.
    ProviderId => "provider";
    /// A closed-loop referral.
    ReferralId => "referral";
    /// A waitlist entry.
    EntryId => "waitlist entry";
    /// A slot offer made to a waitlist entry.
    OfferId => "offer";
    /// A clinical task (same-day risk assessment, risk review, crisis coordination).
    ClinicalTaskId => "clinical task";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Violations;

    const ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn parse_normalises_and_rejects() {
        let id = ClientId::parse("0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B");
        assert_eq!(id.as_ref().map(ClientId::as_str), Some(ID));
        assert!(ClientId::parse("").is_none());
        assert!(ClientId::parse("0190a1b2c3d47e5f8a9b0c1d2e3f4a5b").is_none());
        assert!(ClientId::parse("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g").is_none());
        assert!(ClientId::parse(&format!("{ID} ")).is_none());
    }

    #[test]
    fn new_v7_is_canonical_and_unique() {
        let a = ReferralId::new_v7();
        let b = ReferralId::new_v7();
        assert_ne!(a, b);
        assert_eq!(ReferralId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(a.as_str(), a.as_str().to_ascii_lowercase());
    }

    #[test]
    fn edge_validators_name_the_field_as_the_edge_always_did() {
        let mut v = Violations::default();
        assert!(IntakeId::require(&mut v, "intake_id", "").is_none());
        assert!(IntakeId::require(&mut v, "intake_id", "nope").is_none());
        assert!(IntakeId::optional(&mut v, "referral_id", "").is_none());
        assert!(IntakeId::optional(&mut v, "referral_id", "bad").is_none());
        assert_eq!(
            IntakeId::require(&mut v, "x", &ID.to_uppercase()).map(String::from),
            Some(ID.to_owned())
        );
        let got: Vec<_> = v.iter().map(|f| (f.field.as_str(), f.description.as_str())).collect();
        assert_eq!(
            got,
            [
                ("intake_id", "is required"),
                ("intake_id", "must be a UUID"),
                ("referral_id", "must be a UUID"),
            ]
        );
    }

    #[test]
    fn serde_is_a_plain_string() {
        let id = ProviderId::parse(ID).unwrap_or_else(ProviderId::new_v7);
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(json, format!("\"{ID}\""));
        let back: ProviderId = serde_json::from_str(&json).unwrap_or_else(|_| ProviderId::new_v7());
        assert_eq!(back, id);
    }

    #[test]
    fn display_and_conversions() {
        let id = OrganizationId::parse(ID).unwrap_or_else(OrganizationId::new_v7);
        assert_eq!(id.to_string(), ID);
        assert_eq!(format!("{id}"), ID);
        assert_eq!(id.clone().into_string(), ID);
        assert_eq!(String::from(id.clone()), ID);
        assert!(id == ID);
    }

    #[test]
    fn from_stored_maps_malformed_to_unexpected() {
        assert!(EntryId::from_stored(ID).is_ok());
        assert!(matches!(EntryId::from_stored("x"), Err(continuum_errors::Error::Unexpected(_))));
    }
}
