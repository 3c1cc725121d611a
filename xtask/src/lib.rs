//! Generates the wire types of `mesh-model` from Istio's CRD schemas.
//!
//! Input: `crd-all.gen.yaml` (the OpenAPI v3 schemas of every Istio CRD).
//! Output: one Rust module per Istio API package (`networking`, `security`,
//! `telemetry`, `extensions`, `types`) holding
//!
//! * a serde struct per schema object and an enum per string enum, with the
//!   CRD's own field names (camelCase on the wire, the proto's snake_case name
//!   accepted as an alias, as Istio's jsonpb decoder does);
//! * an implementation of `SchemaCheck` per struct that enforces every
//!   structural constraint of the schema (required fields, lengths, ranges,
//!   patterns, item and property counts, list-map keys, `oneOf` groups) and
//!   every CEL rule (`x-kubernetes-validations`), the latter through the
//!   table in [`cel`]: a rule the table does not know stops generation, so
//!   a new Istio version cannot add a check that is silently skipped.
//!
//! Names come from the reviewed table in [`names`].

#![allow(missing_docs)]

pub mod cel;
pub mod names;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

/// The API packages, in output order.
pub const MODULES: &[&str] = &["types", "networking", "security", "telemetry", "extensions"];

/// What [`generate`] produces.
#[derive(Debug)]
pub struct Output {
    /// File name (relative to the output directory) to its source text.
    pub files: BTreeMap<String, String>,
    /// The CRDs found.
    pub crds: Vec<Crd>,
    /// Types named by derivation because the table in [`names`] has no entry.
    pub derived: Vec<String>,
}

/// One Istio CRD as the generator sees it.
#[derive(Debug, Clone)]
pub struct Crd {
    pub group: String,
    pub kind: String,
    pub versions: Vec<String>,
    pub storage: String,
    pub spec_required: bool,
    pub spec_type: String,
    pub module: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Ty {
    String,
    Bool,
    I32,
    I64,
    U32,
    U64,
    F64,
    Json,
    Named(String, String),
    Enum(String, String),
    Vec(Box<Ty>),
    Map(Box<Ty>),
}

impl Ty {
    fn rust(&self, here: &str) -> String {
        match self {
            Ty::String => "String".into(),
            Ty::Bool => "bool".into(),
            Ty::I32 => "i32".into(),
            Ty::I64 => "i64".into(),
            Ty::U32 => "u32".into(),
            Ty::U64 => "u64".into(),
            Ty::F64 => "f64".into(),
            Ty::Json => "serde_json::Value".into(),
            Ty::Named(m, n) | Ty::Enum(m, n) => {
                if m == here {
                    n.clone()
                } else {
                    format!("super::{m}::{n}")
                }
            }
            Ty::Vec(t) => format!("Vec<{}>", t.rust(here)),
            Ty::Map(t) => format!("BTreeMap<String, {}>", t.rust(here)),
        }
    }
    fn is_integer(&self) -> bool {
        matches!(self, Ty::I32 | Ty::I64 | Ty::U32 | Ty::U64)
    }
}

#[derive(Debug)]
struct Field {
    json: String,
    rust: String,
    alias: Option<String>,
    ty: Ty,
    nullable: bool,
    doc: String,
    checks: Vec<String>,
}

#[derive(Debug)]
struct StructDef {
    name: String,
    doc: String,
    fields: Vec<Field>,
    /// Struct-level checks (required, oneOf, CEL rules on the object).
    checks: Vec<String>,
    first_path: String,
}

#[derive(Debug)]
struct EnumDef {
    name: String,
    doc: String,
    variants: Vec<String>,
}

#[derive(Default)]
struct Module {
    structs: BTreeMap<String, StructDef>,
    enums: BTreeMap<String, EnumDef>,
    /// signature -> name, for reuse of identical unnamed types.
    sigs: HashMap<String, String>,
    enum_sigs: HashMap<Vec<String>, String>,
    patterns: BTreeMap<String, String>,
}

struct Gen {
    modules: BTreeMap<String, Module>,
    struct_names: HashMap<&'static str, &'static str>,
    enum_names: HashMap<&'static str, &'static str>,
    /// (module, name) -> signature, to reject one name for two shapes.
    named_sigs: HashMap<(String, String), String>,
    /// Signatures of the types the table names: an unlisted path with the
    /// same schema reuses that type, whatever its module.
    table_sigs: HashMap<String, String>,
    table_enum_sigs: HashMap<Vec<String>, String>,
    derived: Vec<String>,
}

/// Reads the CRD file and returns the generated modules as
/// `file name -> source` plus the list of CRDs found.
pub fn generate(crd_yaml: &str) -> Result<Output, String> {
    let mut docs = Vec::new();
    for de in serde_yaml::Deserializer::from_str(crd_yaml) {
        let v: Value = serde::Deserialize::deserialize(de).map_err(|e| e.to_string())?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    let mut g = Gen {
        modules: MODULES
            .iter()
            .map(|m| (m.to_string(), Module::default()))
            .collect(),
        struct_names: names::STRUCTS.iter().copied().collect(),
        enum_names: names::ENUMS.iter().copied().collect(),
        named_sigs: HashMap::new(),
        table_sigs: HashMap::new(),
        table_enum_sigs: HashMap::new(),
        derived: Vec::new(),
    };
    // First pass: the schema of every path the table names.
    let mut nodes = HashMap::new();
    for doc in &docs {
        let spec = &doc["spec"];
        let kind = spec["names"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let root = &spec["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        collect_nodes(root, &kind, &mut nodes);
    }
    for (path, q) in names::STRUCTS {
        let node = nodes
            .get(*path)
            .ok_or_else(|| format!("names table: no schema object at {path}"))?;
        let sig = serde_json::to_string(&strip_docs(node)).map_err(|e| e.to_string())?;
        if let Some(prev) = g.table_sigs.get(&sig)
            && prev != q
        {
            // Two table names for one shape is allowed (distinct concepts);
            // unlisted paths then reuse the first.
            continue;
        }
        g.table_sigs.insert(sig, q.to_string());
    }
    for (path, q) in names::ENUMS {
        let node = nodes
            .get(*path)
            .ok_or_else(|| format!("names table: no schema enum at {path}"))?;
        let variants: Vec<String> = node["enum"]
            .as_array()
            .ok_or_else(|| format!("names table: {path} is not an enum"))?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        g.table_enum_sigs
            .entry(variants)
            .or_insert_with(|| q.to_string());
    }
    let mut crds = Vec::new();
    for doc in &docs {
        let spec = &doc["spec"];
        let group = spec["group"]
            .as_str()
            .ok_or("CRD without group")?
            .to_string();
        let kind = spec["names"]["kind"]
            .as_str()
            .ok_or("CRD without kind")?
            .to_string();
        let versions = spec["versions"].as_array().ok_or("CRD without versions")?;
        let first = strip_docs(&versions[0]["schema"]);
        for v in versions {
            if strip_docs(&v["schema"]) != first {
                return Err(format!(
                    "{kind}: versions have different schemas; the generator assumes one message per kind"
                ));
            }
        }
        let storage = versions
            .iter()
            .find(|v| v["storage"].as_bool() == Some(true))
            .and_then(|v| v["name"].as_str())
            .ok_or("CRD without storage version")?
            .to_string();
        let root = &versions[0]["schema"]["openAPIV3Schema"];
        let spec_required = root["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x == "spec"));
        let module = module_of(&group)?;
        let spec_schema = &root["properties"]["spec"];
        let ty = g.object(spec_schema, &kind, &module, &kind, "")?;
        let Ty::Named(_, spec_type) = ty else {
            return Err(format!("{kind}: spec is not an object"));
        };
        crds.push(Crd {
            group,
            kind,
            versions: versions
                .iter()
                .filter_map(|v| v["name"].as_str().map(str::to_string))
                .collect(),
            storage,
            spec_required,
            spec_type,
            module,
        });
    }
    let mut files = BTreeMap::new();
    for m in MODULES {
        files.insert(format!("{m}.rs"), g.render(m));
    }
    files.insert("mod.rs".into(), render_mod(&crds));
    Ok(Output {
        files,
        crds,
        derived: g.derived,
    })
}

/// Records every schema node under `path` (objects, enums, lists, maps).
fn collect_nodes<'a>(s: &'a Value, path: &str, out: &mut HashMap<String, &'a Value>) {
    out.insert(path.to_string(), s);
    if let Some(props) = s["properties"].as_object() {
        for (k, v) in props {
            collect_nodes(v, &format!("{path}.{k}"), out);
        }
    }
    if let Some(items) = s.get("items") {
        collect_nodes(items, &format!("{path}[]"), out);
    }
    if let Some(ap) = s.get("additionalProperties")
        && ap.is_object()
    {
        collect_nodes(ap, &format!("{path}{{}}"), out);
    }
}

fn module_of(group: &str) -> Result<String, String> {
    Ok(match group {
        "networking.istio.io" => "networking",
        "security.istio.io" => "security",
        "telemetry.istio.io" => "telemetry",
        "extensions.istio.io" => "extensions",
        g => return Err(format!("unknown API group {g}")),
    }
    .to_string())
}

fn strip_docs(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "description")
                .map(|(k, v)| (k.clone(), strip_docs(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_docs).collect()),
        other => other.clone(),
    }
}

fn split_name(q: &str) -> (String, String) {
    match q.split_once("::") {
        Some((m, n)) => (m.to_string(), n.to_string()),
        None => (String::new(), q.to_string()),
    }
}

pub fn pascal(s: &str) -> String {
    let mut out = String::new();
    for part in s.split(['_', '-', '.']) {
        let mut cs = part.chars();
        if let Some(c) = cs.next() {
            out.extend(c.to_uppercase());
            out.push_str(cs.as_str());
        }
    }
    out
}

fn variant_name(s: &str) -> String {
    if let Some((_, v)) = names::VARIANTS.iter().find(|(k, _)| *k == s) {
        return v.to_string();
    }
    if s.chars().any(|c| c.is_ascii_lowercase()) {
        // Already camel case (`IfNotPresent`).
        return pascal(s);
    }
    s.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let lower = p.to_ascii_lowercase();
            let mut cs = lower.chars();
            match cs.next() {
                Some(c) => c.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

pub fn snake(s: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The proto field name behind a JSON (lowerCamel) name, which Istio's
/// jsonpb decoder also accepts (RES-4).
///
/// protoc derives the JSON name by dropping each `_` and upper-casing the
/// letter after it; an `_` before a digit just disappears. So the digits do
/// not say where a word began, and Istio's protos follow one convention: a
/// word that *starts* with digits has its own `_` (`consecutive_5xx_errors`
/// → `consecutive5xxErrors`), digits that *end* a word do not
/// (`http1_max_pending_requests`, `h2_upgrade_policy`, `sha256`). A digit
/// run followed by a lower-case letter therefore starts a new word.
pub fn proto_name(json: &str) -> String {
    let snake = snake(json);
    let chars: Vec<char> = snake.chars().collect();
    let mut out = String::with_capacity(snake.len() + 2);
    for (i, &c) in chars.iter().enumerate() {
        let run_start = c.is_ascii_digit() && i > 0 && !chars[i - 1].is_ascii_digit();
        if run_start && chars[i - 1] != '_' {
            let end = chars[i..]
                .iter()
                .position(|d| !d.is_ascii_digit())
                .map_or(chars.len(), |n| i + n);
            if chars.get(end).is_some_and(char::is_ascii_lowercase) {
                out.push('_');
            }
        }
        out.push(c);
    }
    out
}

/// The Rust field name of property `json` among `props`. Where the schema
/// lists the proto name beside the JSON name (`mirror_percent` and
/// `mirrorPercent`), the proto-named one becomes `legacy_…`.
fn field_ident(props: &serde_json::Map<String, Value>, json: &str) -> String {
    let id = rust_ident(json);
    if snake(json) == json && props.keys().any(|k| k != json && proto_name(k) == json) {
        format!("legacy_{id}")
    } else {
        id
    }
}

fn rust_ident(s: &str) -> String {
    let s = snake(s);
    match s.as_str() {
        "type" | "match" | "ref" | "self" | "mod" | "move" | "fn" | "use" | "where" | "loop"
        | "impl" | "crate" | "static" | "const" | "enum" | "struct" | "trait" | "async"
        | "await" | "dyn" | "box" | "in" | "as" | "for" | "if" | "else" | "let" | "mut" | "pub"
        | "return" | "super" | "true" | "false" | "while" | "unsafe" | "extern" => {
            format!("r#{s}")
        }
        _ => s,
    }
}

fn doc_of(s: &Value) -> String {
    s["description"].as_str().unwrap_or("").trim().to_string()
}

fn doc_lines(doc: &str, indent: &str) -> String {
    let mut out = String::new();
    for line in doc.lines() {
        let line = line.trim_end();
        // Keep rustdoc from reading `[x]` as a link or indented text as code.
        let line = line.replace('[', "\\[").replace(']', "\\]");
        let line = line.trim_start();
        if line.is_empty() {
            let _ = writeln!(out, "{indent}///");
        } else {
            let _ = writeln!(out, "{indent}/// {line}");
        }
    }
    out
}

fn escape(s: &str) -> String {
    format!("{s:?}")
}

impl Gen {
    /// Generates (or reuses) the struct for an object schema at `path`.
    fn object(
        &mut self,
        s: &Value,
        path: &str,
        module: &str,
        parent: &str,
        field: &str,
    ) -> Result<Ty, String> {
        let sig = serde_json::to_string(&strip_docs(s)).map_err(|e| e.to_string())?;
        let (m, name) = if let Some(q) = self.struct_names.get(path) {
            let (m, n) = split_name(q);
            (m, n)
        } else if let Some(q) = self.table_sigs.get(&sig) {
            split_name(q)
        } else if let Some(n) = self.modules[module].sigs.get(&sig) {
            (module.to_string(), n.clone())
        } else {
            let n = format!("{parent}{}", pascal(field));
            self.derived.push(format!("{path} -> {module}::{n}"));
            (module.to_string(), n)
        };
        let key = (m.clone(), name.clone());
        if let Some(prev) = self.named_sigs.get(&key) {
            if *prev != sig {
                return Err(format!(
                    "{path}: the name {m}::{name} is already used for a different schema ({})",
                    self.modules[&m].structs[&name].first_path
                ));
            }
            return Ok(Ty::Named(m, name));
        }
        self.named_sigs.insert(key, sig.clone());
        self.modules
            .get_mut(&m)
            .ok_or_else(|| format!("unknown module {m}"))?
            .sigs
            .entry(sig)
            .or_insert_with(|| name.clone());

        let props = s["properties"].as_object().cloned().unwrap_or_default();
        let required: BTreeSet<String> = s["required"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let idents: BTreeMap<String, String> = props
            .keys()
            .map(|json| (json.clone(), field_ident(&props, json)))
            .collect();
        let mut fields = Vec::new();
        for (json, fs) in &props {
            let fpath = format!("{path}.{json}");
            let ty = self.field_ty(fs, &fpath, &m, &name, json)?;
            let rust = idents[json].clone();
            let alias = {
                let sn = proto_name(json);
                (sn != *json && !props.contains_key(&sn)).then_some(sn)
            };
            let mut checks = Vec::new();
            self.value_checks(fs, &ty, "v", &fpath, &m, &mut checks)?;
            fields.push(Field {
                json: json.clone(),
                rust,
                alias,
                ty,
                nullable: fs["nullable"].as_bool().unwrap_or(false),
                doc: doc_of(fs),
                checks,
            });
        }
        let mut checks = Vec::new();
        for r in &required {
            if !props.contains_key(r) {
                return Err(format!("{path}: required field {r} is not a property"));
            }
            let f = &idents[r];
            checks.push(format!(
                "if self.{f}.is_none() {{ cx.required({}); }}",
                escape(r)
            ));
        }
        if let Some(one_of) = s.get("oneOf") {
            checks.push(one_of_check(one_of, path, &idents)?);
        }
        if let Some(all_of) = s.get("allOf").and_then(Value::as_array) {
            for part in all_of {
                match part.get("oneOf") {
                    Some(one_of) if part.as_object().is_some_and(|o| o.len() == 1) => {
                        checks.push(one_of_check(one_of, path, &idents)?)
                    }
                    _ => return Err(format!("{path}: unsupported allOf member {part}")),
                }
            }
        }
        for k in ["anyOf", "not"] {
            if s.get(k).is_some() {
                return Err(format!("{path}: object-level {k} is not supported"));
            }
        }
        if let Some(rules) = s["x-kubernetes-validations"].as_array() {
            for r in rules {
                checks.push(cel::object_rule(r, path, &idents)?);
            }
        }
        let def = StructDef {
            name: name.clone(),
            doc: doc_of(s),
            fields,
            checks,
            first_path: path.to_string(),
        };
        self.modules
            .get_mut(&m)
            .unwrap()
            .structs
            .insert(name.clone(), def);
        Ok(Ty::Named(m, name))
    }

    fn field_ty(
        &mut self,
        s: &Value,
        path: &str,
        module: &str,
        parent: &str,
        field: &str,
    ) -> Result<Ty, String> {
        if s.get("x-kubernetes-int-or-string").is_some() {
            return Err(format!("{path}: int-or-string is not supported in specs"));
        }
        let t = s["type"].as_str().unwrap_or("");
        Ok(match t {
            "object" => {
                if s.get("properties").is_some() {
                    self.object(s, path, module, parent, field)?
                } else if let Some(ap) = s.get("additionalProperties") {
                    let inner = self.field_ty(ap, &format!("{path}{{}}"), module, parent, field)?;
                    Ty::Map(Box::new(inner))
                } else if s["x-kubernetes-preserve-unknown-fields"].as_bool() == Some(true) {
                    Ty::Json
                } else {
                    return Err(format!("{path}: object without properties"));
                }
            }
            "array" => {
                let items = s
                    .get("items")
                    .ok_or_else(|| format!("{path}: array without items"))?;
                let inner = self.field_ty(items, &format!("{path}[]"), module, parent, field)?;
                Ty::Vec(Box::new(inner))
            }
            "string" => {
                if let Some(e) = s["enum"].as_array() {
                    let variants: Vec<String> = e
                        .iter()
                        .map(|v| v.as_str().map(str::to_string).ok_or("non-string enum"))
                        .collect::<Result<_, _>>()?;
                    self.enum_ty(&variants, s, path, module, parent, field)?
                } else {
                    Ty::String
                }
            }
            "boolean" => Ty::Bool,
            "number" => Ty::F64,
            "integer" => match s["format"].as_str() {
                Some("int32") => Ty::I32,
                Some("int64") => Ty::I64,
                Some("uint32") => Ty::U32,
                Some(f) => return Err(format!("{path}: integer format {f}")),
                None => {
                    let min = s["minimum"].as_f64();
                    let max = s["maximum"].as_f64();
                    match (min, max) {
                        (Some(lo), Some(hi)) if lo >= 0.0 && hi <= u32::MAX as f64 => Ty::U32,
                        (Some(lo), _) if lo >= 0.0 => Ty::U64,
                        _ => Ty::I64,
                    }
                }
            },
            other => return Err(format!("{path}: unsupported type {other:?}")),
        })
    }

    fn enum_ty(
        &mut self,
        variants: &[String],
        s: &Value,
        path: &str,
        module: &str,
        parent: &str,
        field: &str,
    ) -> Result<Ty, String> {
        let (m, name) = if let Some(q) = self.enum_names.get(path) {
            split_name(q)
        } else if let Some(q) = self.table_enum_sigs.get(variants) {
            split_name(q)
        } else if let Some(n) = self.modules[module].enum_sigs.get(variants) {
            (module.to_string(), n.clone())
        } else {
            let n = format!("{parent}{}", pascal(field));
            self.derived.push(format!("{path} -> {module}::{n}"));
            (module.to_string(), n)
        };
        let md = self
            .modules
            .get_mut(&m)
            .ok_or_else(|| format!("unknown module {m}"))?;
        if let Some(prev) = md.enums.get(&name) {
            if prev.variants != variants {
                return Err(format!("{path}: enum {m}::{name} reused with other values"));
            }
        } else {
            md.enums.insert(
                name.clone(),
                EnumDef {
                    name: name.clone(),
                    doc: doc_of(s),
                    variants: variants.to_vec(),
                },
            );
            md.enum_sigs
                .entry(variants.to_vec())
                .or_insert_with(|| name.clone());
        }
        Ok(Ty::Enum(m, name))
    }

    /// Checks on a value `var` of type `ty` described by schema `s`.
    fn value_checks(
        &mut self,
        s: &Value,
        ty: &Ty,
        var: &str,
        path: &str,
        module: &str,
        out: &mut Vec<String>,
    ) -> Result<(), String> {
        match ty {
            Ty::String => {
                if let Some(n) = s["minLength"].as_u64() {
                    out.push(format!("cx.min_length({var}, {n});"));
                }
                if let Some(n) = s["maxLength"].as_u64() {
                    out.push(format!("cx.max_length({var}, {n});"));
                }
                if let Some(p) = s["pattern"].as_str() {
                    let md = self.modules.get_mut(module).unwrap();
                    let n = md.patterns.len();
                    let id = md
                        .patterns
                        .entry(p.to_string())
                        .or_insert_with(|| format!("PATTERN_{n}"))
                        .clone();
                    out.push(format!("cx.pattern({var}, &{id}, {});", escape(p)));
                }
            }
            t if t.is_integer() || *t == Ty::F64 => {
                let cast = if *t == Ty::F64 { "" } else { " as f64" };
                if let Some(n) = s["minimum"].as_f64()
                    && !(n == 0.0 && matches!(t, Ty::U32 | Ty::U64))
                {
                    out.push(format!("cx.minimum(*{var}{cast}, {n:?});"));
                }
                if let Some(n) = s["maximum"].as_f64() {
                    let trivial = (*t == Ty::U32 && n >= u32::MAX as f64)
                        || (*t == Ty::I32 && n >= i32::MAX as f64);
                    if !trivial {
                        out.push(format!("cx.maximum(*{var}{cast}, {n:?});"));
                    }
                }
            }
            Ty::Vec(inner) => {
                if let Some(n) = s["minItems"].as_u64() {
                    out.push(format!("cx.min_items({var}.len(), {n});"));
                }
                if let Some(n) = s["maxItems"].as_u64() {
                    out.push(format!("cx.max_items({var}.len(), {n});"));
                }
                if s["x-kubernetes-list-type"].as_str() == Some("map") {
                    let keys: Vec<String> = s["x-kubernetes-list-map-keys"]
                        .as_array()
                        .ok_or_else(|| format!("{path}: list map without keys"))?
                        .iter()
                        .filter_map(|k| k.as_str().map(rust_ident))
                        .collect();
                    let tuple = keys
                        .iter()
                        .map(|k| format!("&x.{k}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    out.push(format!("cx.unique_by({var}, |x| ({tuple},));"));
                }
                let mut inner_checks = Vec::new();
                self.value_checks(
                    &s["items"],
                    inner,
                    "x",
                    &format!("{path}[]"),
                    module,
                    &mut inner_checks,
                )?;
                if !inner_checks.is_empty() {
                    out.push(format!(
                        "for (i, x) in {var}.iter().enumerate() {{ cx.push_index(i); {} cx.pop(); }}",
                        inner_checks.join(" ")
                    ));
                }
            }
            Ty::Map(inner) => {
                if let Some(n) = s["minProperties"].as_u64() {
                    out.push(format!("cx.min_properties({var}.len(), {n});"));
                }
                if let Some(n) = s["maxProperties"].as_u64() {
                    out.push(format!("cx.max_properties({var}.len(), {n});"));
                }
                let mut inner_checks = Vec::new();
                self.value_checks(
                    &s["additionalProperties"],
                    inner,
                    "x",
                    &format!("{path}{{}}"),
                    module,
                    &mut inner_checks,
                )?;
                if !inner_checks.is_empty() {
                    out.push(format!(
                        "for (k, x) in {var}.iter() {{ cx.push_key(k); {} cx.pop(); }}",
                        inner_checks.join(" ")
                    ));
                }
            }
            Ty::Named(..) => {
                out.push(format!("{var}.check(cx);"));
            }
            _ => {}
        }
        if !matches!(ty, Ty::Named(..))
            && let Some(rules) = s["x-kubernetes-validations"].as_array()
        {
            for r in rules {
                out.push(cel::value_rule(r, ty_kind(ty), var, path)?);
            }
        }
        Ok(())
    }

    fn render(&self, module: &str) -> String {
        let md = &self.modules[module];
        let mut out = String::new();
        let _ = writeln!(
            out,
            "// @generated by `cargo xtask codegen` from Istio's CRD schemas. Do not edit."
        );
        let _ = writeln!(out, "//! {}", module_doc(module));
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "#![allow(clippy::all, clippy::pedantic, unused_imports)]"
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "use serde::{{Deserialize, Serialize}};");
        let _ = writeln!(out, "use std::collections::BTreeMap;");
        let _ = writeln!(out, "use std::sync::LazyLock;");
        let _ = writeln!(
            out,
            "use crate::wire::schema::{{SchemaCheck, SchemaContext}};"
        );
        let _ = writeln!(out, "use crate::wire::cel;");
        let _ = writeln!(out);
        for (p, id) in &md.patterns {
            let _ = writeln!(
                out,
                "static {id}: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new({}).expect(\"schema pattern compiles\"));",
                escape(p)
            );
        }
        for e in md.enums.values() {
            render_enum(&mut out, e);
        }
        for s in md.structs.values() {
            render_struct(&mut out, s, module);
        }
        out
    }
}

fn ty_kind(ty: &Ty) -> &'static str {
    match ty {
        Ty::String => "str",
        Ty::Vec(_) => "list",
        Ty::Map(_) => "map",
        t if t.is_integer() => "int",
        Ty::Enum(..) => "enum",
        _ => "other",
    }
}

fn module_doc(m: &str) -> &'static str {
    match m {
        "types" => {
            "Types shared by several APIs (`istio.type.v1beta1`): workload selectors and policy target references."
        }
        "networking" => {
            "Wire types of the `networking.istio.io` API: VirtualService, DestinationRule, Gateway, ServiceEntry, Sidecar, WorkloadEntry, WorkloadGroup, EnvoyFilter and ProxyConfig."
        }
        "security" => {
            "Wire types of the `security.istio.io` API: AuthorizationPolicy, PeerAuthentication and RequestAuthentication."
        }
        "telemetry" => "Wire types of the `telemetry.istio.io` API: Telemetry.",
        "extensions" => {
            "Wire types of the `extensions.istio.io` API: WasmPlugin and TrafficExtension."
        }
        _ => "Generated wire types.",
    }
}

fn one_of_check(
    one_of: &Value,
    path: &str,
    idents: &BTreeMap<String, String>,
) -> Result<String, String> {
    let branches = one_of
        .as_array()
        .ok_or_else(|| format!("{path}: oneOf is not a list"))?;
    let mut fields = Vec::new();
    let mut has_none_branch = false;
    for b in branches {
        if let Some(r) = b["required"].as_array() {
            if r.len() != 1 {
                return Err(format!("{path}: oneOf branch with several required fields"));
            }
            fields.push(r[0].as_str().unwrap_or_default().to_string());
        } else if b.get("not").is_some() {
            has_none_branch = true;
        } else {
            return Err(format!("{path}: unsupported oneOf branch {b}"));
        }
    }
    let count = fields
        .iter()
        .map(|f| {
            idents
                .get(f)
                .map(|id| format!("usize::from(self.{id}.is_some())"))
                .ok_or_else(|| format!("{path}: oneOf names unknown field {f}"))
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .collect::<Vec<_>>()
        .join(" + ");
    let names = fields
        .iter()
        .map(|f| format!("{f:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(if has_none_branch {
        format!("if {count} > 1 {{ cx.one_of(&[{names}], false); }}")
    } else {
        format!("if {count} != 1 {{ cx.one_of(&[{names}], true); }}")
    })
}

fn render_enum(out: &mut String, e: &EnumDef) {
    let doc = if e.doc.is_empty() {
        format!("The values of `{}`.", e.name)
    } else {
        e.doc.clone()
    };
    out.push_str(&doc_lines(&doc, ""));
    let _ = writeln!(
        out,
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]"
    );
    let _ = writeln!(out, "pub enum {} {{", e.name);
    for v in &e.variants {
        let _ = writeln!(out, "    /// `{v}`");
        if v.contains('_') && variant_name(v).contains('_') {
            let _ = writeln!(out, "    #[allow(non_camel_case_types)]");
        }
        let _ = writeln!(out, "    {},", variant_name(v));
    }
    let _ = writeln!(out, "}}");
    let _ = writeln!(out, "impl {} {{", e.name);
    let _ = writeln!(
        out,
        "    /// Every value, in the order of the proto enum (the index is the proto number)."
    );
    let _ = writeln!(
        out,
        "    pub const ALL: &'static [Self] = &[{}];",
        e.variants
            .iter()
            .map(|v| format!("Self::{}", variant_name(v)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(out, "    /// The value's name as written in YAML.");
    let _ = writeln!(out, "    pub const fn as_str(self) -> &'static str {{");
    let _ = writeln!(out, "        match self {{");
    for v in &e.variants {
        let _ = writeln!(out, "            Self::{} => {:?},", variant_name(v), v);
    }
    let _ = writeln!(out, "        }}");
    let _ = writeln!(out, "    }}");
    let _ = writeln!(out, "}}");
    let _ = writeln!(out, "impl crate::wire::enums::WireEnum for {} {{", e.name);
    let _ = writeln!(out, "    const ALL: &'static [Self] = Self::ALL;");
    let _ = writeln!(
        out,
        "    fn as_str(self) -> &'static str {{ {}::as_str(self) }}",
        e.name
    );
    let _ = writeln!(out, "}}");
    let _ = writeln!(out, "crate::wire::enums::wire_enum_serde!({});", e.name);
    let _ = writeln!(out);
}

fn render_struct(out: &mut String, s: &StructDef, module: &str) {
    let doc = if s.doc.is_empty() {
        format!("`{}`.", s.name)
    } else {
        s.doc.clone()
    };
    out.push_str(&doc_lines(&doc, ""));
    let _ = writeln!(
        out,
        "#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]"
    );
    let _ = writeln!(out, "pub struct {} {{", s.name);
    for f in &s.fields {
        let doc = if f.doc.is_empty() {
            format!("`{}`.", f.json)
        } else {
            f.doc.clone()
        };
        out.push_str(&doc_lines(&doc, "    "));
        let mut attrs = vec![format!("rename = {:?}", f.json)];
        if let Some(a) = &f.alias {
            attrs.push(format!("alias = {a:?}"));
        }
        attrs.push("default".into());
        attrs.push("skip_serializing_if = \"Option::is_none\"".into());
        if !f.nullable {
            attrs.push("deserialize_with = \"crate::wire::de::non_null\"".into());
        }
        let _ = writeln!(out, "    #[serde({})]", attrs.join(", "));
        let _ = writeln!(out, "    pub {}: Option<{}>,", f.rust, f.ty.rust(module));
    }
    let _ = writeln!(out, "}}");
    let _ = writeln!(out, "crate::non_null_value!({});", s.name);
    let _ = writeln!(out, "impl SchemaCheck for {} {{", s.name);
    let has_checks = !s.checks.is_empty() || s.fields.iter().any(|f| !f.checks.is_empty());
    let cx = if has_checks { "cx" } else { "_cx" };
    let _ = writeln!(out, "    fn check(&self, {cx}: &mut SchemaContext) {{");
    for f in &s.fields {
        if f.checks.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "        if let Some(v) = &self.{} {{ cx.push_field({:?}); {} cx.pop(); }}",
            f.rust,
            f.json,
            f.checks.join(" ")
        );
    }
    for c in &s.checks {
        let _ = writeln!(out, "        {c}");
    }
    let _ = writeln!(out, "    }}");
    let _ = writeln!(out, "}}");
    let _ = writeln!(out);
}

fn render_mod(crds: &[Crd]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// @generated by `cargo xtask codegen` from Istio's CRD schemas. Do not edit."
    );
    let _ = writeln!(
        out,
        "//! The Istio CRD wire types, one module per API package."
    );
    let _ = writeln!(out);
    for m in MODULES {
        let _ = writeln!(out, "pub mod {m};");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "/// Every Istio CRD: group, kind, served versions, storage version,"
    );
    let _ = writeln!(out, "/// whether `spec` is required, and the spec type.");
    let _ = writeln!(out, "pub const CRDS: &[crate::wire::CrdInfo] = &[");
    for c in crds {
        let _ = writeln!(
            out,
            "    crate::wire::CrdInfo {{ group: {:?}, kind: {:?}, versions: &[{}], storage_version: {:?}, spec_required: {}, spec_type: {:?} }},",
            c.group,
            c.kind,
            c.versions
                .iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            c.storage,
            c.spec_required,
            format!("{}::{}", c.module, c.spec_type),
        );
    }
    let _ = writeln!(out, "];");
    let _ = writeln!(out);
    // The macro that lists every kind with its spec type, so hand-written
    // code can expand per kind without repeating the list.
    let _ = writeln!(
        out,
        "/// Calls `$m!` with `Kind => module::SpecType, spec_required;` for every CRD."
    );
    let _ = writeln!(out, "#[macro_export]");
    let _ = writeln!(out, "#[doc(hidden)]");
    let _ = writeln!(out, "macro_rules! for_each_crd {{");
    let _ = writeln!(out, "    ($m:ident) => {{ $m! {{");
    for c in crds {
        let _ = writeln!(
            out,
            "        {} => {}::{}, {:?}, {};",
            c.kind, c.module, c.spec_type, c.group, c.spec_required
        );
    }
    let _ = writeln!(out, "    }} }};");
    let _ = writeln!(out, "}}");
    let _ = writeln!(out, "pub use for_each_crd;");
    out
}

/// Formats Rust source with `rustfmt` (edition 2024).
pub fn rustfmt(src: &str) -> Result<String, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    // The repository's own rustfmt.toml, so that no configuration above the
    // checkout (or in a home directory) changes what "formatted" means.
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../rustfmt.toml");
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .args(["--config-path", config])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("rustfmt: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("rustfmt: no stdin")?
        .write_all(src.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "rustfmt failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RES-4: the proto names Istio's jsonpb decoder accepts beside the
    /// JSON names, as `istio/api` declares them.
    #[test]
    fn proto_names_of_digit_fields() {
        for (json, proto) in [
            ("consecutive5xxErrors", "consecutive_5xx_errors"),
            ("http1MaxPendingRequests", "http1_max_pending_requests"),
            ("http2MaxRequests", "http2_max_requests"),
            ("http2KeepAlive", "http2_keep_alive"),
            ("h2UpgradePolicy", "h2_upgrade_policy"),
            ("http2Error", "http2_error"),
            ("sha256", "sha256"),
            ("perTryTimeout", "per_try_timeout"),
            ("consecutiveGatewayErrors", "consecutive_gateway_errors"),
        ] {
            assert_eq!(proto_name(json), proto, "{json}");
        }
    }
}
