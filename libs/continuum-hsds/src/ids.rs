//! Stable ids. A provider imported from HSDS gets an id derived from the importing organization and the
//! HSDS ids of its service and location (a name-based UUID, version 8 of RFC 9562, from SHA-256), so the
//! same HSDS record always lands on the same provider and a re-import updates it instead of adding one.
//! Export derives the ids of the HSDS objects it writes (languages, schedules, ...) the same way.

use sha2::{Digest, Sha256};

/// A version-8 UUID (lowercase, hyphenated) derived from `parts`.
pub fn derived_uuid(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"continuum-hsds");
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// The provider id of HSDS service `service_id` at `location_id` (none: the service without a location)
/// imported by `organization_id`.
pub fn provider_id(organization_id: &str, service_id: &str, location_id: Option<&str>) -> String {
    derived_uuid(&[
        "provider",
        &organization_id.to_ascii_lowercase(),
        service_id,
        location_id.unwrap_or(""),
    ])
}

/// Whether `s` is a hyphenated UUID (8-4-4-4-12 hex digits).
pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_uuids_that_differ_by_part() {
        let a = provider_id("0190d5a0-0000-7000-8000-000000000001", "s1", Some("l1"));
        assert!(is_uuid(&a), "{a}");
        assert_eq!(&a[14..15], "8", "version 8");
        assert_eq!(a, provider_id("0190D5A0-0000-7000-8000-000000000001", "s1", Some("l1")));
        assert_ne!(a, provider_id("0190d5a0-0000-7000-8000-000000000002", "s1", Some("l1")));
        assert_ne!(a, provider_id("0190d5a0-0000-7000-8000-000000000001", "s1", None));
        assert_ne!(derived_uuid(&["ab", "c"]), derived_uuid(&["a", "bc"]));
    }
}
