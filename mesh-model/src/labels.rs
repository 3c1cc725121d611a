//! Labels and label selectors.

use std::collections::BTreeMap;

/// A set of labels.
pub type Labels = BTreeMap<String, String>;

/// An equality label selector (`matchLabels`): selects label sets that
/// contain every pair. The empty selector selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Selector(pub Labels);

impl Selector {
    /// The selector that selects everything.
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// Whether the selector has no labels (selects everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `labels` contains every pair of the selector.
    ///
    /// ```
    /// use mesh_model::labels::{Labels, Selector};
    /// let sel = Selector([("app".to_string(), "reviews".to_string())].into());
    /// let pod: Labels = [("app".into(), "reviews".into()), ("version".into(), "v1".into())].into();
    /// assert!(sel.matches(&pod));
    /// assert!(Selector::everything().matches(&pod));
    /// ```
    pub fn matches(&self, labels: &Labels) -> bool {
        self.0.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    /// The pairs.
    pub fn labels(&self) -> &Labels {
        &self.0
    }
}

impl From<Labels> for Selector {
    fn from(l: Labels) -> Self {
        Selector(l)
    }
}
