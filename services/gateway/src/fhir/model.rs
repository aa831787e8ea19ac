//! Small helpers over the `fhir-model` builders for the data types every resource here uses (codings,
//! references, instants), so the resource modules read as the mapping they are.

use fhir_model::r4b::types::{CodeableConcept, Coding, Meta, Reference};
use fhir_model::{BuilderError, DateTime, Instant};

/// A `Coding` of `system`.
pub fn coding(system: &str, code: &str, display: Option<&str>) -> Result<Coding, BuilderError> {
    let mut b = Coding::builder().system(system.to_owned()).code(code.to_owned());
    if let Some(d) = display {
        b = b.display(d.to_owned());
    }
    b.build()
}

/// A `CodeableConcept` with one coding.
pub fn concept(
    system: &str,
    code: &str,
    display: Option<&str>,
) -> Result<CodeableConcept, BuilderError> {
    CodeableConcept::builder().coding(vec![Some(coding(system, code, display)?)]).build()
}

/// A `CodeableConcept` with text only.
pub fn text_concept(text: &str) -> Result<CodeableConcept, BuilderError> {
    CodeableConcept::builder().text(text.to_owned()).build()
}

/// A relative reference (`Organization/<id>`).
pub fn reference(resource_type: &str, id: &str) -> Result<Reference, BuilderError> {
    Reference::builder().reference(format!("{resource_type}/{id}")).build()
}

/// `Meta` with a version id (the ETag's version) and a last-updated instant.
pub fn meta(version: Option<i64>, updated: Option<Instant>) -> Result<Meta, BuilderError> {
    let mut b = Meta::builder();
    if let Some(v) = version {
        b = b.version_id(v.to_string());
    }
    if let Some(u) = updated {
        b = b.last_updated(u);
    }
    b.build()
}

/// A protobuf timestamp as a FHIR `instant` (millisecond precision); `None` when unset or out of range.
pub fn instant(ts: Option<&prost_types::Timestamp>) -> Option<Instant> {
    let ts = ts?;
    let millis = i128::from(ts.seconds) * 1_000 + i128::from(ts.nanos / 1_000_000);
    fhir_model::time::OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000)
        .ok()
        .map(Instant)
}

/// A protobuf timestamp as a FHIR `dateTime`.
pub fn date_time(ts: Option<&prost_types::Timestamp>) -> Option<DateTime> {
    instant(ts).map(DateTime::DateTime)
}

/// A FHIR `dateTime` or `instant` as a protobuf timestamp (a date alone is its midnight UTC).
pub fn timestamp(dt: &DateTime) -> prost_types::Timestamp {
    let odt = match dt {
        DateTime::DateTime(i) => i.0,
        DateTime::Date(d) => {
            let date = match d {
                fhir_model::Date::Date(d) => *d,
                fhir_model::Date::YearMonth(y, m) => {
                    fhir_model::time::Date::from_calendar_date(*y, *m, 1)
                        .unwrap_or(fhir_model::time::Date::MIN)
                }
                fhir_model::Date::Year(y) => fhir_model::time::Date::from_calendar_date(
                    *y,
                    fhir_model::time::Month::January,
                    1,
                )
                .unwrap_or(fhir_model::time::Date::MIN),
            };
            date.midnight().assume_utc()
        }
    };
    let nanos = odt.unix_timestamp_nanos();
    prost_types::Timestamp {
        seconds: i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(i64::MAX),
        nanos: i32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0),
    }
}

/// The first coding's code of a concept, if any.
pub fn first_code(c: Option<&CodeableConcept>) -> Option<&str> {
    c?.coding.iter().flatten().find_map(|c| c.code.as_deref())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn instants_round_trip_at_millisecond_precision() {
        let ts = prost_types::Timestamp { seconds: 1_764_748_800, nanos: 123_456_789 };
        let i = instant(Some(&ts)).unwrap();
        let back = timestamp(&DateTime::DateTime(i));
        assert_eq!(back, prost_types::Timestamp { seconds: 1_764_748_800, nanos: 123_000_000 });
        assert_eq!(instant(None), None);
        let json = serde_json::to_string(&instant(Some(&ts)).unwrap()).unwrap();
        assert_eq!(json, "\"2025-12-03T08:00:00.123Z\"");
    }
}
