//! Where each field of a gRPC request came from in the FHIR request: the map that turns a service's
//! `BadRequest` field path (`screeners.phq9.items[4]`) back into the FHIRPath of the element the client sent
//! (`Bundle.entry[1].resource.item[4].answer[0]`). It is filled while the request is converted, so a path is
//! only ever mapped to an element that really carried the value.

/// Proto field paths and the FHIRPath each came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldMap {
    entries: Vec<(String, String)>,
}

impl FieldMap {
    /// Records that the proto field `field` was filled from the element at `expression`.
    pub fn insert(&mut self, field: impl Into<String>, expression: impl Into<String>) {
        let field = field.into();
        let expression = expression.into();
        match self.entries.iter_mut().find(|(f, _)| *f == field) {
            Some(entry) => entry.1 = expression,
            None => self.entries.push((field, expression)),
        }
    }

    /// The FHIRPath of `field`: its own entry, else the entry of the nearest enclosing field
    /// (`client.date_of_birth.month` falls back to `client.date_of_birth`), else none.
    pub fn expression_for(&self, field: &str) -> Option<String> {
        let mut path = field;
        loop {
            if let Some((_, e)) = self.entries.iter().find(|(f, _)| f == path) {
                return Some(e.clone());
            }
            // Strip the last `.name` or `[index]`.
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }

    /// How many fields are mapped.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_enclosing_field_wins() {
        let mut m = FieldMap::default();
        m.insert("client", "Bundle.entry[0].resource");
        m.insert("client.date_of_birth", "Bundle.entry[0].resource.birthDate");
        m.insert("screeners.phq9.items[4]", "Bundle.entry[1].resource.item[4].answer[0]");
        assert_eq!(
            m.expression_for("client.date_of_birth.month").as_deref(),
            Some("Bundle.entry[0].resource.birthDate")
        );
        assert_eq!(
            m.expression_for("client.given_name").as_deref(),
            Some("Bundle.entry[0].resource")
        );
        assert_eq!(
            m.expression_for("screeners.phq9.items[4]").as_deref(),
            Some("Bundle.entry[1].resource.item[4].answer[0]")
        );
        assert_eq!(m.expression_for("screeners.phq9.items[3]"), None);
        assert_eq!(m.expression_for("organization_id"), None);
    }
}
