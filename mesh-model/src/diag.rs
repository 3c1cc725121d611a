//! Diagnostics: what is wrong with an input, where, and how bad it is.
//!
//! Every problem the crate finds (a YAML syntax error, a field of the wrong
//! type, a schema or webhook rule that does not hold) becomes a
//! [`Diagnostic`]: a stable [`code`](Diagnostic::code), a
//! [`Severity`], a message, and a location made of the caller's file label,
//! the document index, the line and column where known, the resource it
//! belongs to, and the [`FieldPath`] in the CRD's own field names.

use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

/// How bad a diagnostic is, as Istio's webhook and `istioctl analyze` grade it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The resource is rejected.
    Error,
    /// The resource is accepted, with a warning.
    Warning,
    /// Information only (for example, a kind the mesh does not use).
    Info,
}

impl Severity {
    /// `error`, `warning` or `info`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSegment {
    /// A field of an object, by its wire (camelCase) name.
    Field(Cow<'static, str>),
    /// An element of a list.
    Index(usize),
    /// A value of a map, by its key.
    Key(String),
}

/// A path to a field, rendered as the CRD names it:
/// `spec.http[0].route[1].weight`, `spec.portLevelMtls[8080].mode`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(Vec<PathSegment>);

impl FieldPath {
    /// The empty path (the document itself).
    pub const fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// Parses the rendered form back (`spec.http[0].route`). Bracketed
    /// numbers become indexes, other bracketed text becomes map keys.
    pub fn parse(s: &str) -> Self {
        let mut out = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix('[') {
                let end = r.find(']').unwrap_or(r.len());
                let inner = &r[..end];
                out.push(match inner.parse::<usize>() {
                    Ok(i) => PathSegment::Index(i),
                    Err(_) => PathSegment::Key(inner.to_string()),
                });
                rest = r.get(end + 1..).unwrap_or("");
            } else {
                let r = rest.strip_prefix('.').unwrap_or(rest);
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end > 0 {
                    out.push(PathSegment::Field(Cow::Owned(r[..end].to_string())));
                }
                rest = &r[end..];
                if end == 0 && rest.starts_with('.') {
                    rest = &rest[1..];
                }
            }
        }
        FieldPath(out)
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> &[PathSegment] {
        &self.0
    }

    /// Whether this is the root path.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends a field.
    pub fn push_field(&mut self, name: impl Into<Cow<'static, str>>) {
        self.0.push(PathSegment::Field(name.into()));
    }

    /// Appends a list index.
    pub fn push_index(&mut self, i: usize) {
        self.0.push(PathSegment::Index(i));
    }

    /// Appends a map key.
    pub fn push_key(&mut self, k: impl Into<String>) {
        self.0.push(PathSegment::Key(k.into()));
    }

    /// Removes the last segment.
    pub fn pop(&mut self) -> Option<PathSegment> {
        self.0.pop()
    }

    /// A new path with `field` appended.
    #[must_use]
    pub fn field(&self, name: impl Into<Cow<'static, str>>) -> Self {
        let mut p = self.clone();
        p.push_field(name);
        p
    }

    /// A new path with index `i` appended.
    #[must_use]
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.push_index(i);
        p
    }

    /// A new path with map key `k` appended.
    #[must_use]
    pub fn key(&self, k: impl Into<String>) -> Self {
        let mut p = self.clone();
        p.push_key(k);
        p
    }

    /// This path with `prefix` in front of it.
    #[must_use]
    pub fn prefixed(&self, prefix: &FieldPath) -> Self {
        let mut v = prefix.0.clone();
        v.extend(self.0.iter().cloned());
        FieldPath(v)
    }
}

impl From<Vec<PathSegment>> for FieldPath {
    fn from(v: Vec<PathSegment>) -> Self {
        FieldPath(v)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                PathSegment::Field(n) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(n)?;
                }
                PathSegment::Index(n) => write!(f, "[{n}]")?,
                PathSegment::Key(k) => write!(f, "[{k}]")?,
            }
        }
        Ok(())
    }
}

impl Serialize for FieldPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where a resource came from: the caller's label for the input (usually a
/// file name), the 0-based document index in it, and the 1-based line and
/// column of the document start where known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Origin {
    /// The caller's label for the input, for example a file path.
    pub file: String,
    /// The 0-based index of the document in a multi-document input.
    pub document: usize,
    /// For an item of a Kubernetes `List`, its index in `items`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
}

/// The resource a diagnostic is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Subject {
    /// The kind (`VirtualService`).
    pub kind: Option<String>,
    /// The namespace, where known.
    pub namespace: Option<String>,
    /// The name, where known.
    pub name: Option<String>,
}

/// One finding about the input.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// A stable identifier: a rule id of `istio-semantics.md` (`VAL-VS-7`)
    /// or one of this crate's codes (`SCHEMA-REQUIRED`, `PARSE-YAML` …).
    pub code: Cow<'static, str>,
    /// What is wrong, for people.
    pub message: String,
    /// The input label (file).
    pub file: String,
    /// 0-based document index in the input.
    pub document: usize,
    /// 1-based line, where known.
    pub line: Option<u32>,
    /// 1-based column, where known.
    pub column: Option<u32>,
    /// The resource's kind, where known.
    pub kind: Option<String>,
    /// The resource's namespace, where known.
    pub namespace: Option<String>,
    /// The resource's name, where known.
    pub name: Option<String>,
    /// The field path (`spec.http[0].route[1].weight`); empty for the whole
    /// document.
    pub path: FieldPath,
}

impl Diagnostic {
    /// A diagnostic with no location yet.
    pub fn new(
        severity: Severity,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity,
            code: code.into(),
            message: message.into(),
            file: String::new(),
            document: 0,
            line: None,
            column: None,
            kind: None,
            namespace: None,
            name: None,
            path: FieldPath::root(),
        }
    }

    /// An error with the given code and message.
    pub fn error(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    /// A warning with the given code and message.
    pub fn warning(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    /// Sets the field path.
    #[must_use]
    pub fn at(mut self, path: FieldPath) -> Self {
        self.path = path;
        self
    }

    /// Sets the origin (file and document).
    #[must_use]
    pub fn in_origin(mut self, origin: &Origin) -> Self {
        self.file.clone_from(&origin.file);
        self.document = origin.document;
        if let Some(i) = origin.item {
            self.path = self.path.prefixed(&FieldPath::from(vec![
                PathSegment::Field(Cow::Borrowed("items")),
                PathSegment::Index(i),
            ]));
        }
        self
    }

    /// Sets the subject resource.
    #[must_use]
    pub fn about(mut self, subject: &Subject) -> Self {
        self.kind.clone_from(&subject.kind);
        self.namespace.clone_from(&subject.namespace);
        self.name.clone_from(&subject.name);
        self
    }

    /// Whether this diagnostic rejects its resource.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `reviews.yaml:14:9: error[VS-WEIGHT]: VirtualService default/reviews: spec.http[0].route[1].weight: message`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            f.write_str(&self.file)?;
            match (self.line, self.column) {
                (Some(l), Some(c)) => write!(f, ":{l}:{c}")?,
                (Some(l), None) => write!(f, ":{l}")?,
                _ => write!(f, " (document {})", self.document)?,
            }
            f.write_str(": ")?;
        }
        write!(f, "{}[{}]: ", self.severity, self.code)?;
        if let Some(k) = &self.kind {
            f.write_str(k)?;
            match (&self.namespace, &self.name) {
                (Some(ns), Some(n)) => write!(f, " {ns}/{n}")?,
                (None, Some(n)) => write!(f, " {n}")?,
                _ => {}
            }
            f.write_str(": ")?;
        }
        if !self.path.is_root() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_renders_as_the_crd_names_it() {
        let p = FieldPath::root()
            .field("spec")
            .field("http")
            .index(0)
            .field("route")
            .index(1)
            .field("weight");
        assert_eq!(p.to_string(), "spec.http[0].route[1].weight");
        assert_eq!(FieldPath::parse("spec.http[0].route[1].weight"), p);
        let k = FieldPath::root()
            .field("spec")
            .field("portLevelMtls")
            .key("80");
        assert_eq!(k.to_string(), "spec.portLevelMtls[80]");
    }

    #[test]
    fn diagnostic_renders_location_subject_path_and_message() {
        let d = Diagnostic {
            line: Some(14),
            column: Some(9),
            file: "reviews.yaml".into(),
            kind: Some("VirtualService".into()),
            namespace: Some("default".into()),
            name: Some("reviews".into()),
            ..Diagnostic::error("VAL-VS-7", "weight -1 is negative")
        }
        .at(FieldPath::parse("spec.http[0].route[1].weight"));
        assert_eq!(
            d.to_string(),
            "reviews.yaml:14:9: error[VAL-VS-7]: VirtualService default/reviews: spec.http[0].route[1].weight: weight -1 is negative"
        );
    }
}
