//! The CEL rules (`x-kubernetes-validations`) of Istio's CRDs, each mapped to
//! the Rust check that implements it (in `mesh-model/src/wire/cel.rs`).
//!
//! The rule text is matched exactly. A rule that is not in this table stops
//! generation with an error naming it, so a new Istio version that adds a
//! rule cannot be generated until someone implements that rule.

use serde_json::Value;

/// Rules whose `self` is a scalar, list or map value: `(rule, function)`.
/// The function takes the value and returns whether the rule holds.
const VALUE_RULES: &[(&str, &str)] = &[
    ("duration(self) >= duration('1ms')", "duration_at_least_1ms"),
    ("self.size() == 0", "is_empty"),
    ("0 < self && self <= 65535", "port_number"),
    (
        "self.all(key, !key.contains(\"*\"))",
        "keys_without_wildcard",
    ),
    ("self.all(key, key.size() != 0)", "keys_not_empty"),
    ("!self.contains(\"*\")", "no_wildcard"),
    (
        "self.startsWith(\"unix://\") ? (self.substring(7, 8) == \"/\" || self.substring(7, 8) == \"@\") : true",
        "uds_absolute_or_abstract",
    ),
    (
        "self.startsWith(\"unix://\") ? !self.endsWith(\"/\") : true",
        "uds_not_dir",
    ),
    (
        "self.all(key, size(key) < 63 && key.matches(\"^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$\"))",
        "keys_are_port_names",
    ),
    (
        "url(self).getScheme() in [\"http\", \"https\"]",
        "url_scheme_http_or_https",
    ),
    (
        "isURL(self) ? (url(self).getScheme() in [\"\", \"http\", \"https\", \"file\", \"oci\"]) : (isURL(\"http://\" + self) &&\nurl(\"http://\" + self).getScheme() in [\"\", \"http\", \"https\", \"file\", \"oci\"])",
        "wasm_url_scheme",
    ),
    (
        "isURL(self) ? (url(self).getScheme() in [\"\", \"http\", \"https\", \"oci\", \"file\"]) : (isURL(\"http://\" + self) &&\nurl(\"http://\" + self).getScheme() in [\"\", \"http\", \"https\", \"oci\", \"file\"])",
        "wasm_url_scheme",
    ),
    ("self != \"*\"", "not_lone_wildcard"),
    (
        "self.all(l1, self.exists_one(l2, l1.number == l2.number))",
        "unique_port_numbers",
    ),
    (
        "self in [\"\", \"HTTP\", \"HTTPS\"]",
        "http_or_https_scheme",
    ),
    (
        "self.all(key, 0 < int(key) && int(key) <= 65535)",
        "keys_are_port_numbers",
    ),
];

/// Rules whose `self` is an object: `(rule, function)`; the function takes
/// the generated struct.
const OBJECT_RULES: &[(&str, &str)] = &[
    (
        "(has(self.address) ? self.address : \"\").startsWith(\"unix://\") ? !has(self.ports) : true",
        "uds_without_ports",
    ),
    (
        "(has(self.valueFrom) ? self.valueFrom : \"\") != \"HOST\" || !has(self.value)",
        "value_only_when_inline",
    ),
    (
        "has(self.address) || has(self.network)",
        "address_or_network",
    ),
    (
        "has(self.wasm) != has(self.lua)",
        "exactly_one_of_wasm_or_lua",
    ),
    (
        "has(self.context) ? ((self.context == \"WAYPOINT\") ? has(self.waypoint) : !has(self.waypoint)) : !has(self.waypoint)",
        "waypoint_match_needs_waypoint_context",
    ),
    (
        "!((has(self.addresses) ? self.addresses : []).exists(k, k.contains(\"/\")) && !((has(self.resolution) ? self.resolution : \"NONE\") in [\"STATIC\", \"NONE\"]))",
        "cidr_only_with_none_or_static",
    ),
    (
        "((has(self.resolution) ? self.resolution : \"NONE\") == \"NONE\") ? !has(self.endpoints) : true",
        "no_endpoints_with_none_resolution",
    ),
    (
        "((has(self.resolution) ? self.resolution : \"\") == \"DNS_ROUND_ROBIN\") ? ((has(self.endpoints) ? self.endpoints : []).size() <= 1) : true",
        "dns_round_robin_single_endpoint",
    ),
    (
        "(has(self.serviceAccounts) || has(self.notServiceAccounts)) ? (!has(self.principals) &&\n!has(self.notPrincipals) && !has(self.namespaces) && !has(self.notNamespaces)) : true",
        "service_accounts_exclusive",
    ),
    (
        "has(self.portLevelMtls) ? (((has(self.selector) && has(self.selector.matchLabels)) ? self.selector.matchLabels : {}).size() > 0) : true",
        "port_level_mtls_requires_selector",
    ),
    (
        "((has(self.operation) ? self.operation : \"\") == \"UPSERT\") ? (self.value != \"\") : true",
        "upsert_has_value",
    ),
    (
        "((has(self.operation) ? self.operation : \"\") == \"REMOVE\") ? !has(self.value) : true",
        "remove_has_no_value",
    ),
];

fn message(r: &Value) -> String {
    r["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("failed rule: {}", r["rule"].as_str().unwrap_or("")))
}

/// Code for a rule on an object (`self` is the struct being checked).
pub fn object_rule(
    r: &Value,
    path: &str,
    idents: &std::collections::BTreeMap<String, String>,
) -> Result<String, String> {
    let rule = r["rule"]
        .as_str()
        .ok_or_else(|| format!("{path}: rule without text"))?;
    let msg = message(r);
    if let Some(fields) = at_most_one(rule) {
        let count = fields
            .iter()
            .map(|f| {
                idents
                    .get(f)
                    .map(|id| format!("usize::from(self.{id}.is_some())"))
                    .ok_or_else(|| format!("{path}: rule names unknown field {f}"))
            })
            .collect::<Result<Vec<_>, _>>()?
            .join(" + ");
        return Ok(format!("if {count} > 1 {{ cx.rule({msg:?}); }}"));
    }
    if let Some((_, f)) = OBJECT_RULES.iter().find(|(r, _)| *r == rule) {
        return Ok(format!("if !cel::{f}(self) {{ cx.rule({msg:?}); }}"));
    }
    Err(format!(
        "{path}: CEL rule not implemented (add it to xtask/src/cel.rs and mesh-model/src/wire/cel.rs): {rule}"
    ))
}

/// Code for a rule on a value `var` (a reference) of the given kind.
pub fn value_rule(r: &Value, kind: &str, var: &str, path: &str) -> Result<String, String> {
    let rule = r["rule"]
        .as_str()
        .ok_or_else(|| format!("{path}: rule without text"))?;
    let msg = message(r);
    let Some((_, f)) = VALUE_RULES.iter().find(|(r, _)| *r == rule) else {
        return Err(format!(
            "{path}: CEL rule not implemented (add it to xtask/src/cel.rs and mesh-model/src/wire/cel.rs): {rule}"
        ));
    };
    Ok(match kind {
        "str" => format!("if !cel::{f}({var}) {{ cx.rule_value({msg:?}, {var}); }}"),
        "int" => {
            format!("if !cel::{f}(*{var} as i64) {{ cx.rule_value({msg:?}, &{var}.to_string()); }}")
        }
        _ => format!("if !cel::{f}({var}) {{ cx.rule({msg:?}); }}"),
    })
}

/// `(has(self.a) ? 1 : 0) + (has(self.b) ? 1 : 0) <= 1` → `[a, b]`.
fn at_most_one(rule: &str) -> Option<Vec<String>> {
    let body = rule.strip_suffix(" <= 1")?;
    let mut fields = Vec::new();
    for term in body.split(" + ") {
        let f = term
            .strip_prefix("(has(self.")?
            .strip_suffix(") ? 1 : 0)")?;
        if !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        fields.push(f.to_string());
    }
    (fields.len() >= 2).then_some(fields)
}
