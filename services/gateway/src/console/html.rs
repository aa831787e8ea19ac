//! Server-rendered HTML without a template engine: pages are written into a `String` with `write!`, and
//! every value that did not come from this file goes through [`e`] (HTML-escaped for text and for
//! double-quoted attribute values). The rule this module keeps: no interpolation without [`e`], except
//! markup built here from other escaped pieces ([`Markup`]).

use std::fmt::{self, Display, Write as _};

/// A value written HTML-escaped (`&`, `<`, `>`, `"`, `'`): safe in text and in quoted attributes.
#[derive(Clone, Copy, Debug)]
pub struct Escaped<'a>(pub &'a str);

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = 0;
        for (i, c) in self.0.char_indices() {
            let rep = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => continue,
            };
            f.write_str(&self.0[last..i])?;
            f.write_str(rep)?;
            last = i + c.len_utf8();
        }
        f.write_str(&self.0[last..])
    }
}

/// `s`, escaped when written.
pub fn e(s: &str) -> Escaped<'_> {
    Escaped(s)
}

/// `s` escaped into a new string.
pub fn escape(s: &str) -> String {
    e(s).to_string()
}

/// A fragment of markup that is already safe (built in this module tree from escaped pieces).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Markup(pub String);

impl Markup {
    /// An empty fragment.
    pub fn new() -> Self {
        Self(String::new())
    }

    /// Appends formatted markup (the caller escapes what it interpolates).
    pub fn push(&mut self, args: fmt::Arguments<'_>) {
        let _ = self.0.write_fmt(args);
    }

    /// Appends escaped text.
    pub fn text(&mut self, s: &str) {
        let _ = write!(self.0, "{}", e(s));
    }

    /// The markup.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Display for Markup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Appends to a [`Markup`] like `write!`.
macro_rules! html {
    ($m:expr, $($arg:tt)*) => { $m.push(format_args!($($arg)*)) };
}

/// A `<time>` element for a UTC instant: machine-readable `datetime`, human text `2026-12-03 14:05 UTC`.
pub fn time(at: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// A protobuf timestamp as a UTC instant (`None` when unset or out of range).
pub fn ts(t: Option<&prost_types::Timestamp>) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = t?;
    if t.seconds == 0 && t.nanos == 0 {
        return None;
    }
    chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0))
}

/// A duration in plain words: "3 d 4 h", "5 h 10 min", "45 s" (negative: "… ago" is the caller's).
pub fn span(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().abs();
    if s >= 86_400 {
        format!("{} d {} h", s / 86_400, (s % 86_400) / 3600)
    } else if s >= 3600 {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// The last 8 characters of an id, for display (the full id is in links). The last ones: the first
/// characters of a UUIDv7 are its timestamp, the same for ids made in the same minute.
pub fn short(id: &str) -> &str {
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}

/// A proto enum name as words: `REFERRAL_STATUS_IN_PROGRESS` with prefix `REFERRAL_STATUS_` -> "in progress".
pub fn words(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_ascii_lowercase().replace('_', " ")
}

/// A stable code as words: `first_appointment_attended` -> "first appointment attended".
pub fn code_words(code: &str) -> String {
    code.replace(['_', '.'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_interpolated_is_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape("plain ünïcode"), "plain ünïcode");
        assert_eq!(escape(""), "");
        let mut m = Markup::new();
        html!(m, "<td title=\"{}\">", e("a\"onmouseover=\"x"));
        m.text("<b>");
        assert_eq!(m.as_str(), "<td title=\"a&quot;onmouseover=&quot;x\">&lt;b&gt;");
    }

    #[test]
    fn times_and_spans_read_plainly() {
        let at = chrono::DateTime::from_timestamp(1_764_770_700, 0).unwrap_or_default();
        assert_eq!(time(at), "<time datetime=\"2025-12-03T14:05:00Z\">2025-12-03 14:05 UTC</time>");
        assert_eq!(span(chrono::TimeDelta::seconds(93_600)), "1 d 2 h");
        assert_eq!(span(chrono::TimeDelta::seconds(-3_900)), "1 h 5 min");
        assert_eq!(span(chrono::TimeDelta::seconds(42)), "42 s");
        assert_eq!(words("REFERRAL_STATUS_IN_PROGRESS", "REFERRAL_STATUS_"), "in progress");
        assert_eq!(short("0190d5a0-0000-7000-8000-00000000abcd"), "0000abcd");
        assert_eq!(short("abc"), "abc");
        assert_eq!(ts(None), None);
    }
}
