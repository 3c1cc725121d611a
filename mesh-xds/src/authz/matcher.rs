//! Envoy matchers for AuthorizationPolicy values (AZ-20): how one string
//! written in a policy becomes a `StringMatcher`, `HeaderMatcher`,
//! `PathMatcher`, URI template or `MetadataMatcher`, exactly as Istio's
//! `pilot/pkg/security/authz/matcher` package writes them.

use envoy_types::pb::envoy::config::route::v3::{HeaderMatcher, header_matcher};
use envoy_types::pb::envoy::extensions::path::r#match::uri_template::v3::UriTemplateMatchConfig;
use envoy_types::pb::envoy::r#type::matcher::v3::{
    ListMatcher, MetadataMatcher, OrMatcher, PathMatcher, RegexMatcher, StringMatcher,
    ValueMatcher, list_matcher, metadata_matcher, path_matcher, string_matcher, value_matcher,
};

/// Escapes every regular-expression metacharacter of `s` the way Go's
/// `regexp.QuoteMeta` does (`\.+*?()|[]{}^$`), and nothing else, so the
/// generated RE2 patterns are the ones Istio writes.
///
/// ```
/// use mesh_xds::authz::matcher::quote_meta;
/// assert_eq!(quote_meta("rule[0]-a.b"), r"rule\[0\]-a\.b");
/// ```
pub fn quote_meta(s: &str) -> String {
    mesh_authz::matcher::regex_quote(s)
}

fn string_matcher(pattern: string_matcher::MatchPattern, ignore_case: bool) -> StringMatcher {
    StringMatcher {
        ignore_case,
        match_pattern: Some(pattern),
    }
}

/// An exact string matcher.
pub fn exact(v: &str, ignore_case: bool) -> StringMatcher {
    string_matcher(string_matcher::MatchPattern::Exact(v.into()), ignore_case)
}

/// A prefix string matcher.
pub fn prefix(v: &str, ignore_case: bool) -> StringMatcher {
    string_matcher(string_matcher::MatchPattern::Prefix(v.into()), ignore_case)
}

/// A suffix string matcher.
pub fn suffix(v: &str, ignore_case: bool) -> StringMatcher {
    string_matcher(string_matcher::MatchPattern::Suffix(v.into()), ignore_case)
}

/// A `safeRegex` string matcher (RE2, whole-string match).
pub fn regex(r: &str) -> StringMatcher {
    string_matcher(
        string_matcher::MatchPattern::SafeRegex(RegexMatcher {
            regex: r.into(),
            ..Default::default()
        }),
        false,
    )
}

/// A policy value as a string matcher, with `prefix` put in front of the
/// value (AZ-20): `v` → exact `prefix+v`, `v*` → prefix `prefix+v`, `*v` →
/// suffix `v` (regex `prefix.*v` when there is a prefix), and a lone `*` →
/// regex `.+` (any non-empty value; the prefix is not required).
///
/// ```
/// use mesh_xds::authz::matcher::string_with_prefix;
/// use mesh_xds::json::to_json;
/// let m = string_with_prefix("*-sa", "spiffe://");
/// assert_eq!(to_json(&m)["safeRegex"]["regex"], "spiffe://.*-sa");
/// assert_eq!(to_json(&string_with_prefix("*", "spiffe://"))["safeRegex"]["regex"], ".+");
/// ```
pub fn string_with_prefix(v: &str, pre: &str) -> StringMatcher {
    if v == "*" {
        regex(".+")
    } else if let Some(rest) = v.strip_prefix('*') {
        if pre.is_empty() {
            suffix(rest, false)
        } else {
            regex(&format!("{pre}.*{}", quote_meta(rest)))
        }
    } else if let Some(rest) = v.strip_suffix('*') {
        prefix(&format!("{pre}{rest}"), false)
    } else {
        exact(&format!("{pre}{v}"), false)
    }
}

/// A policy value as a string matcher with no prefix (AZ-20): paths,
/// `connection.sni`, metadata and JWT claim values.
pub fn string(v: &str) -> StringMatcher {
    string_with_prefix(v, "")
}

fn header_with(name: &str, v: &str, ignore_case: bool) -> HeaderMatcher {
    // `*` is checked first: an empty prefix or suffix is invalid in Envoy.
    let spec = if v == "*" {
        header_matcher::HeaderMatchSpecifier::PresentMatch(true)
    } else if let Some(rest) = v.strip_prefix('*') {
        header_matcher::HeaderMatchSpecifier::StringMatch(suffix(rest, ignore_case))
    } else if let Some(rest) = v.strip_suffix('*') {
        header_matcher::HeaderMatchSpecifier::StringMatch(prefix(rest, ignore_case))
    } else {
        header_matcher::HeaderMatchSpecifier::StringMatch(exact(v, ignore_case))
    };
    HeaderMatcher {
        name: name.into(),
        header_match_specifier: Some(spec),
        ..Default::default()
    }
}

/// A request header value (`request.headers[…]`, `methods`): case
/// sensitive; a lone `*` only asks for presence (AZ-20).
pub fn header(name: &str, v: &str) -> HeaderMatcher {
    header_with(name, v, false)
}

/// A `hosts` value on `:authority`: like [`header`] but case-insensitive
/// (AZ-20).
pub fn host(name: &str, v: &str) -> HeaderMatcher {
    header_with(name, v, true)
}

/// A `paths` value without a template, on the URL path.
pub fn path(v: &str) -> PathMatcher {
    PathMatcher {
        rule: Some(path_matcher::Rule::Path(string(v))),
    }
}

/// Whether a path uses Istio's path templates `{*}` or `{**}` (1.22+).
pub fn contains_path_template(v: &str) -> bool {
    v.contains("{*}") || v.contains("{**}")
}

/// A templated path as Envoy's URI template: `{*}` (one segment) becomes
/// `*` and `{**}` (the rest) becomes `**`; a `*` or `**` already written
/// stays as it is. The replacement is one left-to-right pass.
///
/// ```
/// use mesh_xds::authz::matcher::path_template;
/// assert_eq!(path_template("/{**}/a/{*}").path_template, "/**/a/*");
/// ```
pub fn path_template(v: &str) -> UriTemplateMatchConfig {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("{*}") {
            out.push('*');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("{**}") {
            out.push_str("**");
            rest = r;
        } else {
            let c = rest.chars().next().expect("rest is not empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    UriTemplateMatchConfig { path_template: out }
}

/// A value matcher holding one string matcher.
pub fn value_string(m: StringMatcher) -> ValueMatcher {
    ValueMatcher {
        match_pattern: Some(value_matcher::MatchPattern::StringMatch(m)),
    }
}

/// Several value matchers OR'ed; a single one is returned as it is.
pub fn value_or(mut matchers: Vec<ValueMatcher>) -> ValueMatcher {
    if matchers.len() == 1 {
        return matchers.remove(0);
    }
    ValueMatcher {
        match_pattern: Some(value_matcher::MatchPattern::OrMatch(OrMatcher {
            value_matchers: matchers,
        })),
    }
}

/// A value matcher matching a list that holds an element matching `v`.
pub fn value_list_one_of(v: ValueMatcher) -> ValueMatcher {
    ValueMatcher {
        match_pattern: Some(value_matcher::MatchPattern::ListMatch(Box::new(
            ListMatcher {
                match_pattern: Some(list_matcher::MatchPattern::OneOf(Box::new(v))),
            },
        ))),
    }
}

/// The values as one OR of string matchers (each value as [`string`]).
pub fn string_or(values: &[String]) -> ValueMatcher {
    value_or(values.iter().map(|v| value_string(string(v))).collect())
}

fn metadata_path(keys: &[&str]) -> Vec<metadata_matcher::PathSegment> {
    keys.iter()
        .map(|k| metadata_matcher::PathSegment {
            segment: Some(metadata_matcher::path_segment::Segment::Key((*k).into())),
        })
        .collect()
}

/// A dynamic-metadata matcher on `filter` at path `keys`.
pub fn metadata(filter: &str, keys: &[&str], value: ValueMatcher) -> MetadataMatcher {
    MetadataMatcher {
        filter: filter.into(),
        path: metadata_path(keys),
        value: Some(value),
        invert: false,
    }
}

/// A JWT claim matcher: the claim (at `keys`) is a string matching
/// `value`, or a list with an element matching it.
pub fn metadata_list_or_value(filter: &str, keys: &[&str], value: ValueMatcher) -> MetadataMatcher {
    metadata(
        filter,
        keys,
        value_or(vec![value_list_one_of(value.clone()), value]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::to_json;
    use serde_json::json;

    /// AZ-20: `v` exact, `v*` prefix, `*v` suffix, lone `*` = non-empty.
    #[test]
    fn az20_string_forms() {
        assert_eq!(to_json(&string("/a")), json!({"exact": "/a"}));
        assert_eq!(to_json(&string("/a/*")), json!({"prefix": "/a/"}));
        assert_eq!(to_json(&string("*/a")), json!({"suffix": "/a"}));
        assert_eq!(to_json(&string("*")), json!({"safeRegex": {"regex": ".+"}}));
        // A `*` in the middle is literal.
        assert_eq!(to_json(&string("a*b")), json!({"exact": "a*b"}));
    }

    /// AZ-20: principals are compared as `spiffe://` + value; a suffix
    /// form needs a regex, with the literal part escaped as Go does.
    #[test]
    fn az20_principal_forms() {
        let p = "spiffe://";
        assert_eq!(
            to_json(&string_with_prefix("td/ns/a/sa/b", p)),
            json!({"exact": "spiffe://td/ns/a/sa/b"})
        );
        assert_eq!(
            to_json(&string_with_prefix("td/ns/a/*", p)),
            json!({"prefix": "spiffe://td/ns/a/"})
        );
        assert_eq!(
            to_json(&string_with_prefix("*/sa/b[0].x", p)),
            json!({"safeRegex": {"regex": r"spiffe://.*/sa/b\[0\]\.x"}})
        );
    }

    /// AZ-20: `hosts` are case-insensitive, `methods` and request headers
    /// are not; a lone `*` is presence only.
    #[test]
    fn az20_header_and_host_forms() {
        assert_eq!(
            to_json(&host(":authority", "*.example.com")),
            json!({"name": ":authority", "stringMatch": {"ignoreCase": true, "suffix": ".example.com"}})
        );
        assert_eq!(
            to_json(&header(":method", "GET")),
            json!({"name": ":method", "stringMatch": {"exact": "GET"}})
        );
        assert_eq!(
            to_json(&header("x-token", "*")),
            json!({"name": "x-token", "presentMatch": true})
        );
        assert_eq!(
            to_json(&header("x-token", "abc*")),
            json!({"name": "x-token", "stringMatch": {"prefix": "abc"}})
        );
    }

    /// AZ-20 (paths, 1.22+): `{*}` → `*`, `{**}` → `**`, other text kept.
    #[test]
    fn az20_path_templates() {
        assert!(contains_path_template("/a/{*}"));
        assert!(contains_path_template("/{**}"));
        assert!(!contains_path_template("/a/*"));
        assert_eq!(path_template("/a/{*}/b").path_template, "/a/*/b");
        assert_eq!(path_template("/{**}/b").path_template, "/**/b");
        assert_eq!(path_template("/x/{*}/{**}").path_template, "/x/*/**");
        assert_eq!(path_template("/é/{*}").path_template, "/é/*");
    }

    #[test]
    fn quote_meta_escapes_what_go_escapes() {
        assert_eq!(
            quote_meta(r"a.b+c*d?e(f)g|h[i]j{k}l^m$n\o"),
            r"a\.b\+c\*d\?e\(f\)g\|h\[i\]j\{k\}l\^m\$n\\o"
        );
        // Go leaves these alone (Rust's `regex::escape` would not).
        assert_eq!(quote_meta("a-b#c&d~e f"), "a-b#c&d~e f");
    }

    #[test]
    fn or_of_one_is_the_one() {
        let one = string_or(&["a".into()]);
        assert_eq!(to_json(&one), json!({"stringMatch": {"exact": "a"}}));
        let two = string_or(&["a".into(), "b*".into()]);
        assert_eq!(
            to_json(&two),
            json!({"orMatch": {"valueMatchers": [
                {"stringMatch": {"exact": "a"}}, {"stringMatch": {"prefix": "b"}}
            ]}})
        );
    }
}
