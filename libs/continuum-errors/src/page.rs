//! One pagination style for every List RPC: `page_size` (0 means the RPC's default, never more than its
//! maximum) and an opaque `page_token` that only this service reads. A token carries the keyset position
//! after which the next page starts (the last row's key), versioned and base64url-encoded, so callers
//! cannot build or edit one and the position format may change without breaking them.
//!
//! A use case asks its store for [`Page::fetch`] rows (one more than the page) after [`Page::after`],
//! then [`Page::finish`] cuts the extra row and makes the next token.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::Violations;

/// The prefix of every token of this format.
const VERSION: &str = "p1:";

/// The page sizes of one List RPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    /// Rows when `page_size` is 0.
    pub default: u64,
    /// Largest `page_size`.
    pub max: u64,
}

/// One page as asked for: its size and the position it starts after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Rows on the page.
    pub size: u64,
    /// The key of the last row of the previous page (`None` for the first page).
    pub after: Option<String>,
}

impl Paging {
    /// Page sizes `default` and at most `max`.
    pub const fn new(default: u64, max: u64) -> Self {
        Self { default, max }
    }

    /// Reads `page_size` and `page_token`, naming each when bad; positions are row ids (UUIDs).
    pub fn read(self, v: &mut Violations, page_size: i32, page_token: &str) -> Page {
        self.read_with(v, page_size, page_token, crate::is_uuid)
    }

    /// As [`Paging::read`], for positions that `valid` accepts.
    pub fn read_with(
        self,
        v: &mut Violations,
        page_size: i32,
        page_token: &str,
        valid: fn(&str) -> bool,
    ) -> Page {
        let size = match u64::try_from(page_size) {
            Ok(0) => self.default,
            Ok(n) if n <= self.max => n,
            _ => {
                v.add("page_size", format!("must be between 1 and {}", self.max));
                self.default
            }
        };
        let after = if page_token.is_empty() {
            None
        } else {
            let position = position(page_token).filter(|p| valid(p));
            if position.is_none() {
                v.add("page_token", "is not a token from a previous page");
            }
            position
        };
        Page { size, after }
    }
}

impl Page {
    /// How many rows to read: one more than the page, which tells whether another page follows.
    pub fn fetch(&self) -> u64 {
        self.size.saturating_add(1)
    }

    /// Cuts `rows` (read with [`Page::fetch`]) to the page; the token of the next page, or "" when this
    /// is the last one.
    pub fn finish<T>(&self, rows: &mut Vec<T>, key: impl Fn(&T) -> String) -> String {
        let size = usize::try_from(self.size).unwrap_or(usize::MAX);
        if rows.len() > size {
            rows.truncate(size);
            rows.last().map(|r| token(&key(r))).unwrap_or_default()
        } else {
            String::new()
        }
    }
}

/// The opaque token of the page after position `key`.
pub fn token(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{VERSION}{key}"))
}

/// The position a token carries; `None` for anything this service did not issue.
pub fn position(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let key = text.strip_prefix(VERSION)?;
    (!key.is_empty()).then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const ID: &str = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    const PAGING: Paging = Paging::new(50, 200);

    fn bad(size: i32, token: &str) -> Vec<String> {
        let mut v = Violations::default();
        PAGING.read(&mut v, size, token);
        v.iter().map(|f| f.field.clone()).collect()
    }

    #[test]
    fn sizes_default_and_cap() {
        let mut v = Violations::default();
        assert_eq!(PAGING.read(&mut v, 0, "").size, 50);
        assert_eq!(PAGING.read(&mut v, 200, "").size, 200);
        assert!(v.is_empty());
        assert_eq!(bad(201, ""), vec!["page_size"]);
        assert_eq!(bad(-1, ""), vec!["page_size"]);
    }

    #[test]
    fn tokens_are_opaque_and_round_trip() {
        let t = token(ID);
        assert!(!t.contains(ID), "a token does not show its position");
        let mut v = Violations::default();
        assert_eq!(PAGING.read(&mut v, 0, &t).after.as_deref(), Some(ID));
        assert!(v.is_empty());
        // A raw id, garbage, another version or a position that is not an id: refused by name.
        for t in
            [ID.to_owned(), "x".to_owned(), URL_SAFE_NO_PAD.encode(format!("p0:{ID}")), token("12")]
        {
            assert_eq!(bad(0, &t), vec!["page_token"], "{t}");
        }
    }

    #[test]
    fn finish_cuts_the_extra_row() {
        let page = Page { size: 2, after: None };
        let mut rows = vec!["a", "b", "c"];
        let next = page.finish(&mut rows, |r| (*r).to_owned());
        assert_eq!(rows, vec!["a", "b"]);
        assert_eq!(position(&next).as_deref(), Some("b"));
        let mut last = vec!["a", "b"];
        assert_eq!(page.finish(&mut last, |r| (*r).to_owned()), "");
        assert_eq!(last.len(), 2);
    }
}
