//! The structural checks of the CRD schemas, as the Kubernetes API server
//! applies them: required fields, string lengths and patterns, numeric
//! ranges, item and property counts, unique list-map keys, `oneOf` groups
//! and the CEL rules. The generated types implement [`SchemaCheck`]; this
//! module holds the context they report into.

use crate::diag::{FieldPath, PathSegment};
use std::borrow::Cow;
use std::collections::BTreeSet;

/// A schema constraint that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// Where, relative to `spec`'s parent (paths start with `spec`).
    pub path: FieldPath,
    /// A stable code: `SCHEMA-REQUIRED`, `SCHEMA-LENGTH`, `SCHEMA-PATTERN`,
    /// `SCHEMA-RANGE`, `SCHEMA-ITEMS`, `SCHEMA-PROPERTIES`,
    /// `SCHEMA-DUPLICATE`, `SCHEMA-ONEOF` or `SCHEMA-RULE` (a CEL rule).
    pub code: &'static str,
    /// The message, worded as the API server words it.
    pub message: String,
}

/// Implemented by every generated wire type.
pub trait SchemaCheck {
    /// Reports every violated constraint of `self` into `cx`.
    fn check(&self, cx: &mut SchemaContext);
}

impl<T: SchemaCheck> SchemaCheck for Option<T> {
    fn check(&self, cx: &mut SchemaContext) {
        if let Some(v) = self {
            v.check(cx);
        }
    }
}

/// Collects violations while a value is walked.
#[derive(Debug, Default)]
pub struct SchemaContext {
    path: Vec<PathSegment>,
    violations: Vec<SchemaViolation>,
}

impl SchemaContext {
    /// A context whose paths start at `root` (usually `spec`).
    pub fn new(root: &'static str) -> Self {
        SchemaContext {
            path: vec![PathSegment::Field(Cow::Borrowed(root))],
            violations: Vec::new(),
        }
    }

    /// The violations found.
    pub fn into_violations(self) -> Vec<SchemaViolation> {
        self.violations
    }

    /// Enters a field.
    pub fn push_field(&mut self, name: &'static str) {
        self.path.push(PathSegment::Field(Cow::Borrowed(name)));
    }

    /// Enters a list element.
    pub fn push_index(&mut self, i: usize) {
        self.path.push(PathSegment::Index(i));
    }

    /// Enters a map value.
    pub fn push_key(&mut self, k: &str) {
        self.path.push(PathSegment::Key(k.to_string()));
    }

    /// Leaves the innermost field, element or value.
    pub fn pop(&mut self) {
        self.path.pop();
    }

    fn report(&mut self, code: &'static str, message: String) {
        self.violations.push(SchemaViolation {
            path: FieldPath::from(self.path.clone()),
            code,
            message,
        });
    }

    fn report_at(&mut self, field: &'static str, code: &'static str, message: String) {
        self.push_field(field);
        self.report(code, message);
        self.pop();
    }

    /// A required field is missing.
    pub fn required(&mut self, field: &'static str) {
        self.report_at(field, "SCHEMA-REQUIRED", "Required value".into());
    }

    /// `minLength` (in characters).
    pub fn min_length(&mut self, v: &str, n: u64) {
        if (v.chars().count() as u64) < n {
            self.report(
                "SCHEMA-LENGTH",
                format!("Invalid value: {v:?}: should be at least {n} chars long"),
            );
        }
    }

    /// `maxLength` (in characters).
    pub fn max_length(&mut self, v: &str, n: u64) {
        if (v.chars().count() as u64) > n {
            self.report(
                "SCHEMA-LENGTH",
                format!("Too long: may not be more than {n} bytes"),
            );
        }
    }

    /// `pattern`.
    pub fn pattern(&mut self, v: &str, re: &regex::Regex, source: &str) {
        if !re.is_match(v) {
            self.report(
                "SCHEMA-PATTERN",
                format!("Invalid value: {v:?}: should match '{source}'"),
            );
        }
    }

    /// `minimum`.
    pub fn minimum(&mut self, v: f64, min: f64) {
        if v < min {
            self.report(
                "SCHEMA-RANGE",
                format!("Invalid value: {v}: should be greater than or equal to {min}"),
            );
        }
    }

    /// `maximum`.
    pub fn maximum(&mut self, v: f64, max: f64) {
        if v > max {
            self.report(
                "SCHEMA-RANGE",
                format!("Invalid value: {v}: should be less than or equal to {max}"),
            );
        }
    }

    /// `minItems`.
    pub fn min_items(&mut self, len: usize, n: u64) {
        if (len as u64) < n {
            self.report(
                "SCHEMA-ITEMS",
                format!("Invalid value: {len}: should have at least {n} items"),
            );
        }
    }

    /// `maxItems`.
    pub fn max_items(&mut self, len: usize, n: u64) {
        if (len as u64) > n {
            self.report(
                "SCHEMA-ITEMS",
                format!("Too many: {len}: must have at most {n} items"),
            );
        }
    }

    /// `minProperties`.
    pub fn min_properties(&mut self, len: usize, n: u64) {
        if (len as u64) < n {
            self.report(
                "SCHEMA-PROPERTIES",
                format!("should have at least {n} properties"),
            );
        }
    }

    /// `maxProperties`.
    pub fn max_properties(&mut self, len: usize, n: u64) {
        if (len as u64) > n {
            self.report(
                "SCHEMA-PROPERTIES",
                format!("Too many: {len}: must have at most {n} items"),
            );
        }
    }

    /// `x-kubernetes-list-type: map`: the key fields are unique.
    pub fn unique_by<'a, T, K: Ord>(&mut self, items: &'a [T], key: impl Fn(&'a T) -> K) {
        let mut seen = BTreeSet::new();
        for (i, x) in items.iter().enumerate() {
            if !seen.insert(key(x)) {
                self.push_index(i);
                self.report("SCHEMA-DUPLICATE", "Duplicate value".into());
                self.pop();
            }
        }
    }

    /// A `oneOf` group: at most one (or exactly one) of `fields` is set.
    pub fn one_of(&mut self, fields: &[&str], exactly: bool) {
        let names = fields.join(", ");
        self.report(
            "SCHEMA-ONEOF",
            if exactly {
                format!("exactly one of [{names}] must be set")
            } else {
                format!("at most one of [{names}] may be set")
            },
        );
    }

    /// A CEL rule on an object does not hold.
    pub fn rule(&mut self, message: &str) {
        self.report("SCHEMA-RULE", format!("Invalid value: {message}"));
    }

    /// A CEL rule on a scalar does not hold.
    pub fn rule_value(&mut self, message: &str, value: &str) {
        self.report(
            "SCHEMA-RULE",
            format!("Invalid value: {value:?}: {message}"),
        );
    }
}
