//! Parsing YAML and JSON into [`Resource`]s, with located diagnostics.
//!
//! A [`Source`] is one input (a file's text and the caller's label for
//! it). It is split into documents first, so a document with a YAML syntax
//! error does not take the others down with it. Each document is read in
//! one pass: `apiVersion` and `kind` are read as they come, and `spec` is
//! deserialized straight into the generated wire type of its kind. Every
//! problem becomes a [`Diagnostic`] with the file label, the document
//! index, the field path and, by [`Source::locate`], the line and column.
//!
//! Kubernetes `List` objects (`kind: List`, or `kind: VirtualServiceList`)
//! are read item by item. Kinds the mesh does not use are skipped with an
//! info diagnostic. Nothing in here panics on any input (a fuzz target
//! checks).

use crate::diag::{Diagnostic, FieldPath, Origin, PathSegment, Severity, Subject};
use crate::resource::{Body, IstioKind, IstioSpec, Kind, KubeKind, Resource};
use crate::wire::{kube, meta::ObjectMeta, schema::SchemaContext};
use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use std::borrow::Cow;
use std::fmt;

/// What to do with fields the schema does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownFields {
    /// An error, as `istioctl validate` reports it (the default).
    #[default]
    Reject,
    /// A warning: for objects written for a newer Istio.
    Warn,
}

/// How to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Unknown fields: error (default) or warning.
    pub unknown_fields: UnknownFields,
    /// The namespace of namespaced objects that name none (`default`).
    /// Empty: such objects keep no namespace, as `istioctl analyze` reads
    /// files.
    pub default_namespace: String,
    /// Whether to run the CRD schema checks (on by default).
    pub schema_check: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            unknown_fields: UnknownFields::Reject,
            default_namespace: "default".into(),
            schema_check: true,
        }
    }
}

impl ParseOptions {
    /// Options that report unknown fields as warnings.
    pub fn lenient() -> Self {
        ParseOptions {
            unknown_fields: UnknownFields::Warn,
            ..ParseOptions::default()
        }
    }
}

/// The result of parsing a [`Source`].
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Every object that parsed and passed the schema checks.
    pub resources: Vec<Resource>,
    /// Everything found wrong (and skipped kinds, as info).
    pub diagnostics: Vec<Diagnostic>,
}

/// One input text with the caller's label for it (usually a file path).
#[derive(Debug, Clone)]
pub struct Source<'a> {
    label: Cow<'a, str>,
    text: &'a str,
    docs: Vec<Chunk<'a>>,
}

#[derive(Debug, Clone, Copy)]
struct Chunk<'a> {
    text: &'a str,
    /// Lines before this chunk in the whole text.
    line_offset: u32,
}

impl<'a> Source<'a> {
    /// An input with a label.
    ///
    /// ```
    /// use mesh_model::parse::{ParseOptions, Source};
    /// let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, namespace: bookinfo}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n";
    /// let parsed = Source::new("reviews.yaml", yaml).parse(&ParseOptions::default());
    /// assert_eq!(parsed.resources.len(), 1);
    /// assert!(parsed.diagnostics.is_empty());
    /// ```
    pub fn new(label: impl Into<Cow<'a, str>>, text: &'a str) -> Self {
        Source {
            label: label.into(),
            text,
            docs: split_documents(text),
        }
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The whole text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The number of documents.
    pub fn documents(&self) -> usize {
        self.docs.len()
    }

    /// The text of document `index` (0-based, as in [`Origin::document`]).
    pub fn document(&self, index: usize) -> Option<&'a str> {
        self.docs.get(index).map(|c| c.text)
    }

    /// The number of lines before document `index` in the whole text.
    pub fn document_line_offset(&self, index: usize) -> Option<u32> {
        self.docs.get(index).map(|c| c.line_offset)
    }

    /// Parses every document.
    pub fn parse(&self, opts: &ParseOptions) -> Parsed {
        let mut out = Parsed::default();
        for (index, chunk) in self.docs.iter().enumerate() {
            let origin = Origin {
                file: self.label.to_string(),
                document: index,
                item: None,
            };
            let start = out.diagnostics.len();
            parse_chunk(chunk, &origin, opts, &mut out);
            for d in &mut out.diagnostics[start..] {
                if d.line.is_none() {
                    locate_in(chunk, d);
                }
            }
        }
        out
    }

    /// Fills in the line and column of diagnostics about this source (same
    /// file label) that have a field path but no line yet.
    pub fn locate(&self, diagnostics: &mut [Diagnostic]) {
        for d in diagnostics {
            if d.line.is_some() || d.file != *self.label {
                continue;
            }
            if let Some(chunk) = self.docs.get(d.document) {
                locate_in(chunk, d);
            }
        }
    }
}

/// Parses one text (a convenience for [`Source::parse`]).
pub fn parse_str(label: &str, text: &str, opts: &ParseOptions) -> Parsed {
    Source::new(label, text).parse(opts)
}

/// Splits a YAML stream at its document markers: a line that starts with
/// `---` followed by a space, a tab or the end of the line. Chunks with
/// nothing but comments and blank lines are not documents.
fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut start_line = 0u32;
    let mut pos = 0usize;
    fn push<'t>(chunks: &mut Vec<Chunk<'t>>, s: &'t str, line: u32) {
        let has_content = s.lines().any(|l| {
            let t = l.trim();
            !(t.is_empty() || t.starts_with('#') || t.starts_with('%') || t == "---" || t == "...")
        });
        if has_content {
            chunks.push(Chunk {
                text: s,
                line_offset: line,
            });
        }
    }
    // Lines are counted as YAML counts them (`\r\n`, `\r`, `\n`, NEL, LS
    // and PS each end one), so that positions in later documents agree
    // with the positions libyaml reports inside each document.
    let mut line_no = 0u32;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let is_marker = body == "---" || body.starts_with("--- ") || body.starts_with("---\t");
        if is_marker && pos > start {
            push(&mut chunks, &text[start..pos], start_line);
            start = pos;
            start_line = line_no;
        }
        line_no = line_no.saturating_add(line_breaks(line));
        pos += line.len();
    }
    if start < text.len() {
        push(&mut chunks, &text[start..], start_line);
    }
    chunks
}

/// A libyaml position (1-based line and column) moved inside `text`: at
/// the end of a text without a final line break libyaml reports the line
/// after the last one; that becomes the end of the last line.
fn clamp_to_text(text: &str, line: u32, column: u32) -> (u32, u32) {
    let last = line_breaks(text) + 1;
    if line <= last {
        return (line.max(1), column.max(1));
    }
    let tail = match text
        .char_indices()
        .rev()
        .find(|(_, c)| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
    {
        Some((i, c)) => &text[i + c.len_utf8()..],
        None => text,
    };
    (last, tail.chars().count() as u32 + 1)
}

/// The number of YAML line breaks in `s`: `\r\n` counts once; a bare
/// `\r`, `\n`, NEL (U+0085), LS (U+2028) and PS (U+2029) count too.
pub fn line_breaks(s: &str) -> u32 {
    let mut n = 0u32;
    let mut prev_cr = false;
    for c in s.chars() {
        match c {
            '\n' if prev_cr => {}
            '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => n = n.saturating_add(1),
            _ => {}
        }
        prev_cr = c == '\r';
    }
    n
}

fn parse_chunk(chunk: &Chunk<'_>, origin: &Origin, opts: &ParseOptions, out: &mut Parsed) {
    let mut seen = 0usize;
    for doc in serde_yaml::Deserializer::from_str(chunk.text) {
        seen += 1;
        if seen > 1 {
            out.diagnostics.push(
                Diagnostic::error(
                    "PARSE-YAML",
                    "more than one YAML document in one chunk; separate documents with `---`",
                )
                .in_origin(origin),
            );
            return;
        }
        match EnvelopeSeed.deserialize(doc) {
            Ok(Some(env)) => finish(env, chunk.text, origin, opts, out),
            Ok(None) => {}
            Err(e) => {
                let subject = peek_subject(chunk.text, &opts.default_namespace);
                out.diagnostics.push(yaml_error(
                    &e,
                    chunk,
                    origin,
                    subject.as_ref(),
                    PathRetry::Text(chunk.text),
                ));
                return;
            }
        }
    }
}

/// The kind, namespace and name of a document that failed to parse, when
/// its YAML is well-formed enough to tell.
fn peek_subject(text: &str, default_namespace: &str) -> Option<Subject> {
    #[derive(serde::Deserialize)]
    struct Peek {
        kind: Option<String>,
        metadata: Option<PeekMeta>,
    }
    #[derive(serde::Deserialize)]
    struct PeekMeta {
        name: Option<String>,
        namespace: Option<String>,
    }
    let p: Peek = serde_yaml::from_str(text).ok()?;
    let kind = p.kind?;
    let meta = p.metadata?;
    let cluster_scoped = Kind::from_name(&kind).is_some_and(Kind::cluster_scoped);
    Some(Subject {
        namespace: if cluster_scoped {
            None
        } else {
            meta.namespace
                .filter(|n| !n.is_empty())
                .or_else(|| Some(default_namespace.to_string()).filter(|n| !n.is_empty()))
        },
        kind: Some(kind),
        name: meta.name,
    })
}

enum PathRetry<'a> {
    Text(&'a str),
    Value(&'a serde_yaml::Value),
}

/// Turns a deserialization error into a diagnostic: syntax errors keep
/// serde_yaml's location; type errors get their field path by reading the
/// document again with path tracking (errors are rare, so the fast path
/// carries no tracking cost).
fn yaml_error(
    e: &serde_yaml::Error,
    chunk: &Chunk<'_>,
    origin: &Origin,
    subject: Option<&Subject>,
    retry: PathRetry<'_>,
) -> Diagnostic {
    // A document that libyaml cannot read even as "anything" has a syntax
    // error; its position is the error's own, and no field path applies.
    let syntax = match retry {
        PathRetry::Text(text) => serde_yaml::Deserializer::from_str(text)
            .next()
            .is_some_and(|doc| IgnoredAny::deserialize(doc).is_err()),
        PathRetry::Value(_) => false,
    };
    let mut path = FieldPath::root();
    let tracked = match retry {
        _ if syntax => None,
        PathRetry::Text(text) => serde_yaml::Deserializer::from_str(text).next().map(|doc| {
            let mut track = serde_path_to_error::Track::new();
            let wrapped = serde_path_to_error::Deserializer::new(doc, &mut track);
            let failed = EnvelopeSeed.deserialize(wrapped).is_err();
            (failed, track.path())
        }),
        PathRetry::Value(v) => {
            let mut track = serde_path_to_error::Track::new();
            let wrapped = serde_path_to_error::Deserializer::new(v, &mut track);
            let failed = EnvelopeSeed.deserialize(wrapped).is_err();
            Some((failed, track.path()))
        }
    };
    if let Some((true, p)) = tracked {
        path = convert_tracked_path(&p);
    }
    let raw = strip_locations(&e.to_string());
    let mut message = raw.as_str();
    let shown = path.to_string();
    if !shown.is_empty()
        && let Some(m) = message.strip_prefix(&format!("{shown}: "))
    {
        message = m;
    }
    // serde_yaml prefixes its own rendering of the path; drop any such
    // leading `a.b[0]: ` when it is a prefix of ours.
    if let Some((head, tail)) = message.split_once(": ")
        && !head.contains(' ')
        && shown.starts_with(head)
    {
        message = tail;
    }
    let code = if syntax {
        "PARSE-YAML"
    } else if message.starts_with("Unsupported value: ") {
        // An enum value the CRD does not list (the API server's message).
        "SCHEMA-ENUM"
    } else {
        "PARSE-TYPE"
    };
    let mut d = Diagnostic::error(code, message.to_string())
        .at(path)
        .in_origin(origin);
    if let Some(s) = subject {
        d = d.about(s);
    }
    if let Some(loc) = e.location() {
        let (line, column) = clamp_to_text(chunk.text, loc.line() as u32, loc.column() as u32);
        d.line = Some(chunk.line_offset + line);
        d.column = Some(column);
    }
    d
}

/// Removes serde_yaml's ` at line L column C` fragments: the diagnostic
/// carries the position itself, relative to the whole input rather than to
/// one document.
fn strip_locations(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + " at line ".len()..];
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let n = digits(after);
        let tail = &after[n..];
        match tail.strip_prefix(" column ") {
            Some(c) if n > 0 && digits(c) > 0 => rest = &c[digits(c)..],
            _ => {
                out.push_str(" at line ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn convert_tracked_path(p: &serde_path_to_error::Path) -> FieldPath {
    let mut out = FieldPath::root();
    for seg in p.iter() {
        match seg {
            serde_path_to_error::Segment::Seq { index } => out.push_index(*index),
            serde_path_to_error::Segment::Map { key } => out.push_field(key.clone()),
            serde_path_to_error::Segment::Enum { variant } => out.push_field(variant.clone()),
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    out
}

fn convert_ignored_path(p: &serde_ignored::Path<'_>, out: &mut FieldPath) {
    use serde_ignored::Path;
    match p {
        Path::Root => {}
        Path::Seq { parent, index } => {
            convert_ignored_path(parent, out);
            out.push_index(*index);
        }
        Path::Map { parent, key } => {
            convert_ignored_path(parent, out);
            out.push_field(key.clone());
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => convert_ignored_path(parent, out),
    }
}

/// The top level of one document, read in one pass.
#[derive(Default)]
struct Envelope {
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Option<ObjectMeta>,
    spec: SpecSlot,
    status: Option<serde_json::Value>,
    items: Option<Vec<serde_yaml::Value>>,
    rest: serde_yaml::Mapping,
    unknown: Vec<FieldPath>,
    duplicate: Vec<String>,
}

#[derive(Default)]
enum SpecSlot {
    #[default]
    Absent,
    Null,
    Typed(IstioSpec),
    Raw(serde_yaml::Value),
}

struct EnvelopeSeed;

impl<'de> DeserializeSeed<'de> for EnvelopeSeed {
    type Value = Option<Envelope>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Option<Envelope>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with apiVersion, kind and metadata")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut env = Envelope::default();
        while let Some(key) = map.next_key::<String>()? {
            let seen = match key.as_str() {
                "apiVersion" => env.api_version.replace(map.next_value()?).is_some(),
                "kind" => env.kind.replace(map.next_value()?).is_some(),
                "metadata" => {
                    let seed = Ignoring::<ObjectMeta> {
                        prefix: "metadata",
                        sink: &mut env.unknown,
                        _t: std::marker::PhantomData,
                    };
                    env.metadata.replace(map.next_value_seed(seed)?).is_some()
                }
                "spec" => {
                    // Another API group's kind of the same name (the
                    // Gateway API's `Gateway`) is not an Istio spec.
                    let group = env.api_version.as_deref().map(|v| split_api_version(v).0);
                    let istio = env
                        .kind
                        .as_deref()
                        .and_then(IstioKind::from_name)
                        .filter(|k| group.is_none_or(|g| g == k.group()));
                    let slot = match istio {
                        Some(kind) => map.next_value_seed(SpecSeed {
                            kind,
                            sink: &mut env.unknown,
                        })?,
                        None => SpecSlot::Raw(map.next_value()?),
                    };
                    let was = !matches!(env.spec, SpecSlot::Absent);
                    env.spec = slot;
                    was
                }
                "status" => env.status.replace(map.next_value()?).is_some(),
                "items" => env.items.replace(map.next_value()?).is_some(),
                _ => {
                    let v: serde_yaml::Value = map.next_value()?;
                    env.rest
                        .insert(serde_yaml::Value::String(key.clone()), v)
                        .is_some()
                }
            };
            if seen {
                env.duplicate.push(key);
            }
        }
        Ok(Some(env))
    }
}

/// Deserializes `T` and records the paths of fields `T` does not have.
struct Ignoring<'a, T> {
    prefix: &'static str,
    sink: &'a mut Vec<FieldPath>,
    _t: std::marker::PhantomData<T>,
}

impl<'de, T: serde::Deserialize<'de>> DeserializeSeed<'de> for Ignoring<'_, T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        let prefix = self.prefix;
        let sink = self.sink;
        serde_ignored::deserialize(d, |p| {
            let mut fp = FieldPath::root();
            fp.push_field(prefix);
            convert_ignored_path(&p, &mut fp);
            sink.push(fp);
        })
    }
}

struct SpecSeed<'a> {
    kind: IstioKind,
    sink: &'a mut Vec<FieldPath>,
}

impl<'de> DeserializeSeed<'de> for SpecSeed<'_> {
    type Value = SpecSlot;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<SpecSlot, D::Error> {
        struct V<'a>(SpecSeed<'a>);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = SpecSlot;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a spec object")
            }
            fn visit_none<E: de::Error>(self) -> Result<SpecSlot, E> {
                Ok(SpecSlot::Null)
            }
            fn visit_unit<E: de::Error>(self) -> Result<SpecSlot, E> {
                Ok(SpecSlot::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<SpecSlot, D::Error> {
                let SpecSeed { kind, sink } = self.0;
                let mut record = |p: serde_ignored::Path<'_>| {
                    let mut fp = FieldPath::root();
                    fp.push_field("spec");
                    convert_ignored_path(&p, &mut fp);
                    sink.push(fp);
                };
                let wrapped = serde_ignored::Deserializer::new(d, &mut record);
                IstioSpec::deserialize(kind, wrapped).map(SpecSlot::Typed)
            }
        }
        d.deserialize_option(V(self))
    }
}

fn split_api_version(v: &str) -> (&str, &str) {
    match v.rsplit_once('/') {
        Some((g, ver)) => (g, ver),
        None => ("", v),
    }
}

fn finish(env: Envelope, text: &str, origin: &Origin, opts: &ParseOptions, out: &mut Parsed) {
    let subject = Subject {
        kind: env.kind.clone(),
        namespace: env.metadata.as_ref().and_then(|m| m.namespace.clone()),
        name: env.metadata.as_ref().and_then(|m| m.name.clone()),
    };
    let diag = |sev: Severity, code: &'static str, msg: String, path: FieldPath| {
        Diagnostic::new(sev, code, msg)
            .at(path)
            .in_origin(origin)
            .about(&subject)
    };
    for k in &env.duplicate {
        out.diagnostics.push(diag(
            Severity::Error,
            "PARSE-YAML",
            format!("duplicate key {k:?}"),
            FieldPath::root().field(k.clone()),
        ));
    }
    if !env.duplicate.is_empty() {
        return;
    }
    let (Some(api_version), Some(kind_name)) = (env.api_version.clone(), env.kind.clone()) else {
        let missing = if env.api_version.is_none() {
            "apiVersion"
        } else {
            "kind"
        };
        out.diagnostics.push(diag(
            Severity::Error,
            "SCHEMA-REQUIRED",
            format!("{missing} is required: not a Kubernetes object"),
            FieldPath::root().field(missing),
        ));
        return;
    };
    // Kubernetes lists.
    if let Some(items) = &env.items
        && (kind_name == "List" || kind_name.ends_with("List"))
    {
        if origin.item.is_some() {
            out.diagnostics.push(diag(
                Severity::Error,
                "PARSE-LIST",
                "a List inside a List is not supported".into(),
                FieldPath::root(),
            ));
            return;
        }
        for (i, item) in items.iter().enumerate() {
            let item_origin = Origin {
                item: Some(i),
                ..origin.clone()
            };
            match EnvelopeSeed.deserialize(item) {
                Ok(Some(e)) => finish(e, text, &item_origin, opts, out),
                Ok(None) => {}
                Err(e) => {
                    let chunk = Chunk {
                        text,
                        line_offset: 0,
                    };
                    let mut d = yaml_error(&e, &chunk, &item_origin, None, PathRetry::Value(item));
                    d.line = None;
                    d.column = None;
                    out.diagnostics.push(d);
                }
            }
        }
        return;
    }
    let (group, version) = split_api_version(&api_version);
    let Some(kind) = Kind::from_group_name(group, &kind_name) else {
        out.diagnostics.push(diag(
            Severity::Info,
            "PARSE-KIND-SKIPPED",
            format!("kind {kind_name} ({api_version}) is not used by the mesh; skipped"),
            FieldPath::root(),
        ));
        return;
    };
    if !kind.serves(group, version) {
        let served = match kind {
            Kind::Istio(k) => k.crd().versions.to_vec(),
            Kind::Kube(k) => k.versions().to_vec(),
        };
        let g = kind.group();
        let served: Vec<String> = served
            .iter()
            .map(|v| {
                if g.is_empty() {
                    v.to_string()
                } else {
                    format!("{g}/{v}")
                }
            })
            .collect();
        out.diagnostics.push(diag(
            Severity::Error,
            "PARSE-API-VERSION",
            format!(
                "apiVersion {api_version:?} is not served for {kind_name} (served: {})",
                served.join(", ")
            ),
            FieldPath::root().field("apiVersion"),
        ));
        return;
    }
    let unknown_severity = match (kind, opts.unknown_fields) {
        (_, UnknownFields::Warn) => Severity::Warning,
        (Kind::Istio(_), UnknownFields::Reject) => Severity::Error,
        // Only the metadata of Kubernetes objects is read strictly.
        (Kind::Kube(_), UnknownFields::Reject) => Severity::Error,
    };
    let mut rejected = false;
    for p in &env.unknown {
        rejected |= unknown_severity == Severity::Error;
        let field = match p.segments().last() {
            Some(PathSegment::Field(f)) => f.to_string(),
            _ => p.to_string(),
        };
        out.diagnostics.push(diag(
            unknown_severity,
            "SCHEMA-UNKNOWN-FIELD",
            format!("unknown field {field:?}"),
            p.clone(),
        ));
    }
    let mut metadata = env.metadata.unwrap_or_default();
    if metadata.name.as_deref().unwrap_or("").is_empty() {
        out.diagnostics.push(diag(
            Severity::Error,
            "SCHEMA-REQUIRED",
            "metadata.name is required".into(),
            FieldPath::root().field("metadata").field("name"),
        ));
        return;
    }
    if kind.cluster_scoped() {
        metadata.namespace = None;
    } else if metadata.namespace.as_deref().unwrap_or("").is_empty() {
        metadata.namespace = Some(opts.default_namespace.clone()).filter(|n| !n.is_empty());
    }
    let subject = Subject {
        kind: Some(kind_name.clone()),
        namespace: metadata.namespace.clone(),
        name: metadata.name.clone(),
    };
    let diag = |sev: Severity, code: &'static str, msg: String, path: FieldPath| {
        Diagnostic::new(sev, code, msg)
            .at(path)
            .in_origin(origin)
            .about(&subject)
    };
    let body = match kind {
        Kind::Istio(ik) => {
            for k in env.rest.keys() {
                let k = k.as_str().unwrap_or("?").to_string();
                rejected |= unknown_severity == Severity::Error;
                out.diagnostics.push(diag(
                    unknown_severity,
                    "SCHEMA-UNKNOWN-FIELD",
                    format!("unknown field {k:?}"),
                    FieldPath::root().field(k),
                ));
            }
            let spec = match env.spec {
                SpecSlot::Typed(s) => s,
                SpecSlot::Raw(v) => {
                    // `spec` came before `kind`: read it from the buffered value.
                    let mut unknown = Vec::new();
                    match (SpecSeed {
                        kind: ik,
                        sink: &mut unknown,
                    })
                    .deserialize(&v)
                    {
                        Ok(SpecSlot::Typed(s)) => {
                            for p in unknown {
                                rejected |= unknown_severity == Severity::Error;
                                out.diagnostics.push(diag(
                                    unknown_severity,
                                    "SCHEMA-UNKNOWN-FIELD",
                                    format!("unknown field at {p}"),
                                    p,
                                ));
                            }
                            s
                        }
                        Ok(_) => {
                            out.diagnostics.push(diag(
                                Severity::Error,
                                "SCHEMA-TYPE",
                                "spec in body must be of type object: \"null\"".into(),
                                FieldPath::root().field("spec"),
                            ));
                            return;
                        }
                        Err(e) => {
                            out.diagnostics.push(diag(
                                Severity::Error,
                                "PARSE-TYPE",
                                e.to_string(),
                                FieldPath::root().field("spec"),
                            ));
                            return;
                        }
                    }
                }
                SpecSlot::Null => {
                    out.diagnostics.push(diag(
                        Severity::Error,
                        "SCHEMA-TYPE",
                        "spec in body must be of type object: \"null\"".into(),
                        FieldPath::root().field("spec"),
                    ));
                    return;
                }
                SpecSlot::Absent => {
                    // A required `spec` is a CRD schema rule: without the
                    // schema checks the object reads as an empty spec.
                    if ik.spec_required() && opts.schema_check {
                        out.diagnostics.push(diag(
                            Severity::Error,
                            "SCHEMA-REQUIRED",
                            "Required value".into(),
                            FieldPath::root().field("spec"),
                        ));
                        return;
                    }
                    IstioSpec::default_for(ik)
                }
            };
            if opts.schema_check {
                let mut cx = SchemaContext::new("spec");
                spec.schema_check(&mut cx);
                for v in cx.into_violations() {
                    rejected = true;
                    out.diagnostics
                        .push(diag(Severity::Error, v.code, v.message, v.path));
                }
            }
            Body::Istio {
                spec,
                status: env.status,
            }
        }
        Kind::Kube(kk) => {
            let mut rest = env.rest;
            if let SpecSlot::Raw(v) = env.spec {
                rest.insert("spec".into(), v);
            }
            if let Some(s) = env.status {
                match serde_yaml::to_value(s) {
                    Ok(v) => {
                        rest.insert("status".into(), v);
                    }
                    Err(e) => {
                        out.diagnostics.push(diag(
                            Severity::Error,
                            "PARSE-TYPE",
                            e.to_string(),
                            FieldPath::root().field("status"),
                        ));
                        return;
                    }
                }
            }
            match kube_body(kk, serde_yaml::Value::Mapping(rest)) {
                Ok(b) => b,
                Err(e) => {
                    out.diagnostics.push(diag(
                        Severity::Error,
                        "PARSE-TYPE",
                        e.to_string(),
                        FieldPath::root(),
                    ));
                    return;
                }
            }
        }
    };
    if rejected {
        return;
    }
    out.resources.push(Resource {
        api_version,
        kind,
        metadata,
        body,
        origin: origin.clone(),
    });
}

fn kube_body(kind: KubeKind, v: serde_yaml::Value) -> Result<Body, serde_yaml::Error> {
    Ok(match kind {
        KubeKind::Namespace => Body::Namespace,
        KubeKind::ServiceAccount => Body::ServiceAccount,
        KubeKind::Service => {
            Body::Service(Box::new(serde_yaml::from_value::<kube::Service>(v)?.spec))
        }
        KubeKind::Pod => {
            let p: kube::Pod = serde_yaml::from_value(v)?;
            Body::Pod {
                spec: Box::new(p.spec),
                status: Box::new(p.status),
            }
        }
        KubeKind::Deployment
        | KubeKind::StatefulSet
        | KubeKind::DaemonSet
        | KubeKind::ReplicaSet => Body::Workload(Box::new(
            serde_yaml::from_value::<kube::WorkloadController>(v)?.spec,
        )),
        KubeKind::ConfigMap => Body::ConfigMap(serde_yaml::from_value::<kube::ConfigMap>(v)?.data),
        KubeKind::Secret => {
            let s: kube::Secret = serde_yaml::from_value(v)?;
            Body::Secret {
                type_: s.type_,
                keys: s.data.into_keys().collect(),
            }
        }
    })
}

// ---------------------------------------------------------------------------
// Locating a field path in the text.

/// Fills `d.line`/`d.column` with the position of its path in `chunk`
/// (or of the nearest enclosing field that exists).
/// An unknown field is located at its key, a missing required field at
/// its parent, everything else at its value.
fn locate_in(chunk: &Chunk<'_>, d: &mut Diagnostic) {
    let mut segs: Vec<PathSegment> = d.path.segments().to_vec();
    if d.code == "SCHEMA-REQUIRED" {
        // The field is absent (or empty): searching the text for it would
        // read the whole document for nothing.
        segs.pop();
    }
    let mut at_key = d.code == "SCHEMA-UNKNOWN-FIELD";
    loop {
        let found = if at_key {
            locate_key(chunk.text, &segs)
        } else if segs.is_empty() {
            // The document itself (a missing apiVersion, kind, ...): its
            // first token is where libyaml puts it; reading the text up to
            // there is enough for all but unusual documents.
            root_position(chunk.text).or_else(|| locate_path(chunk.text, &segs))
        } else {
            locate_path(chunk.text, &segs)
        };
        at_key = false;
        // The locator stops at a node of the document; an empty node at
        // the very end of a text without a final line break is reported
        // on the line after the last one, which is clamped as for syntax
        // errors.
        if let Some((line, col)) = found {
            let (line, col) = clamp_to_text(chunk.text, line, col);
            d.line = Some(chunk.line_offset + line);
            d.column = Some(col);
            return;
        }
        if segs.pop().is_none() {
            return;
        }
    }
}

/// The 1-based line and column of the first token of the document in
/// `text` (after its `---` marker, blank lines and comments), as libyaml
/// reports the position of the document's root node; `None` when the text
/// has something this scan does not follow (directives, tags, anchors,
/// block scalars, other line breaks than `\n` and `\r\n`, a byte order
/// mark), and the full parse decides.
fn root_position(text: &str) -> Option<(u32, u32)> {
    if text.contains(['\r', '\u{85}', '\u{2028}', '\u{2029}', '\u{feff}']) {
        // `\r\n` is fine, but a lone `\r` ends a line too: leave both to
        // the parser rather than tell them apart here.
        return None;
    }
    for (index, line) in text.split('\n').enumerate() {
        let mut rest = line;
        let mut column = 0usize;
        // A chunk starts at its marker line, if it has one.
        if index == 0 {
            if let Some(after) = line.strip_prefix("---")
                && (after.is_empty() || after.starts_with([' ', '\t']))
            {
                rest = after;
                column = 3;
            } else if line.starts_with('%') {
                return None;
            }
        }
        let body = rest.trim_start_matches([' ', '\t']);
        column += rest.len() - body.len();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        if body.starts_with(['!', '&', '*', '|', '>', '?', '%', '@', '`'])
            || body.starts_with("---")
            || body.starts_with("...")
        {
            return None;
        }
        let line = u32::try_from(index).ok()?.checked_add(1)?;
        let column = u32::try_from(column).ok()?.checked_add(1)?;
        return Some((line, column));
    }
    None
}

const FOUND: &str = "\u{1}located";

/// The 1-based line and column of the value at `path` in the first
/// document of `text`. serde_yaml attaches the position of the event being
/// read to an error raised while reading it; the locator walks to the value
/// and raises one there.
fn locate_path(text: &str, path: &[PathSegment]) -> Option<(u32, u32)> {
    let doc = serde_yaml::Deserializer::from_str(text).next()?;
    let err = Locate { path, key: None }.deserialize(doc).err()?;
    if !err.to_string().contains(FOUND) {
        return None;
    }
    let loc = err.location()?;
    Some((loc.line() as u32, loc.column() as u32))
}

/// The 1-based line and column of the map key that ends `path`.
fn locate_key(text: &str, path: &[PathSegment]) -> Option<(u32, u32)> {
    let (last, parent) = path.split_last()?;
    let want = match last {
        PathSegment::Field(f) => f.as_ref(),
        PathSegment::Key(k) => k.as_str(),
        PathSegment::Index(_) => return None,
    };
    let doc = serde_yaml::Deserializer::from_str(text).next()?;
    let err = Locate {
        path: parent,
        key: Some(want),
    }
    .deserialize(doc)
    .err()?;
    if !err.to_string().contains(FOUND) {
        return None;
    }
    let loc = err.location()?;
    Some((loc.line() as u32, loc.column() as u32))
}

/// Raises an error at the key `want` of the map reached by the path.
struct KeySeed<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        struct V<'k>(&'k str);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
                if v == self.0 {
                    Err(E::custom(FOUND))
                } else {
                    Ok(())
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
                self.visit_str(&v.to_string())
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
                Ok(())
            }
            fn visit_unit<E: de::Error>(self) -> Result<(), E> {
                Ok(())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(())
            }
        }
        d.deserialize_any(V(self.0))
    }
}

struct Locate<'p> {
    path: &'p [PathSegment],
    /// Stop at this key of the map the path leads to, not at a value.
    key: Option<&'p str>,
}

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(LocateVisitor(self.path, self.key))
    }
}

struct LocateVisitor<'p>(&'p [PathSegment], Option<&'p str>);

impl LocateVisitor<'_> {
    fn here<E: de::Error>(&self) -> Result<(), E> {
        if self.0.is_empty() && self.1.is_none() {
            Err(E::custom(FOUND))
        } else {
            Ok(())
        }
    }
}

impl<'de> Visitor<'de> for LocateVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("anything")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.here()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.here()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.here()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.here()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.here()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.here()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.here()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        Locate {
            path: self.0,
            key: self.1,
        }
        .deserialize(d)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.here()?;
        if self.0.is_empty() {
            let Some(key) = self.1 else { return Ok(()) };
            while map.next_key_seed(KeySeed(key))?.is_some() {
                map.next_value::<IgnoredAny>()?;
            }
            return Ok(());
        }
        let want = match &self.0[0] {
            PathSegment::Field(f) => f.as_ref(),
            PathSegment::Key(k) => k.as_str(),
            PathSegment::Index(_) => return Ok(()),
        };
        while let Some(k) = map.next_key::<serde_yaml::Value>()? {
            let matches = match &k {
                serde_yaml::Value::String(s) => s == want,
                serde_yaml::Value::Number(n) => n.to_string() == want,
                serde_yaml::Value::Bool(b) => b.to_string() == want,
                _ => false,
            };
            if matches {
                return map.next_value_seed(Locate {
                    path: &self.0[1..],
                    key: self.1,
                });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.here()?;
        let Some(PathSegment::Index(want)) = self.0.first().cloned() else {
            return Ok(());
        };
        let mut i = 0usize;
        loop {
            if i == want {
                return seq
                    .next_element_seed(Locate {
                        path: &self.0[1..],
                        key: self.1,
                    })
                    .map(|_| ());
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests;
