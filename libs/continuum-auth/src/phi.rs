//! A wrapper for personal health information. Its `Debug` and `Display` print `[redacted]`, so a value
//! carried in it cannot reach a log line, a span field or an error message by accident; code that needs
//! the value asks for it explicitly with [`Phi::expose`].

use serde::{Deserialize, Serialize};

/// Personal health information of type `T`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phi<T>(T);

impl<T> Phi<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Phi(value)
    }

    /// The value, for the code that must use it (storage, the owner's own reads).
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Phi<T> {
    fn from(value: T) -> Self {
        Phi(value)
    }
}

impl<T> std::fmt::Debug for Phi<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> std::fmt::Display for Phi<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::Phi;

    #[test]
    fn never_prints_the_value() {
        let p = Phi::new("Jane Secret".to_owned());
        assert_eq!(format!("{p}"), "[redacted]");
        assert_eq!(format!("{p:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&p)), "Some([redacted])");
        assert_eq!(p.expose(), "Jane Secret");
        assert_eq!(serde_json::to_string(&p).unwrap_or_default(), "\"Jane Secret\"");
    }
}
