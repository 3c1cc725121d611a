//! Inputs the `parse_validate` fuzz target (`fuzz/`) found, kept as tests:
//! loading them must not panic and every diagnostic must point inside the
//! input, with lines counted as YAML counts them.

use mesh_model::parse::{ParseOptions, line_breaks};
use mesh_model::{LoadOptions, Loaded, load};

fn check(bytes: &[u8]) -> Vec<Loaded> {
    let text = String::from_utf8_lossy(bytes);
    let lines = line_breaks(&text) + 1;
    [ParseOptions::default(), ParseOptions::lenient()]
        .into_iter()
        .map(|parse| {
            let loaded = load(
                &[("fuzz.yaml", &text)],
                &LoadOptions {
                    parse,
                    ..LoadOptions::default()
                },
            );
            for d in &loaded.diagnostics {
                let _ = d.to_string();
                if let Some(line) = d.line {
                    assert!((1..=lines).contains(&line), "line {line} of {lines}: {d}");
                }
            }
            loaded
        })
        .collect()
}

/// Bare carriage returns are YAML line breaks: libyaml counts them inside a
/// document, so the lines of later documents must count them as well.
#[test]
fn bare_carriage_returns_count_as_line_breaks() {
    let mut doc = b"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: httpbin\n  namespace: foo\nspec:\n  selector:\n    matchLabels:\n      app: httpbin\n      version: v1\n  rules:\n    - from:\n        - source:\n            namespaces: [\"istio-system\"]\n      when:\n        - key: \"source.prin".to_vec();
    doc.extend(std::iter::repeat_n(b'\r', 118));
    doc.extend_from_slice(
        b"cipal\"\n          values: [\"*\", \"*/ns/foo/sa/all-td\", \"*-td/ns/foo/sa/prefix-td\"]",
    );
    let loaded = check(&doc);
    let d = &loaded[0].diagnostics[0];
    assert_eq!(d.code, "VAL-AP-4");
    assert_eq!((d.line, d.column), (Some(135), Some(19)));
    // The same break count carries into the next document of the file.
    let mut two = doc.clone();
    two.extend_from_slice(b"\n---\nkind: [\n");
    let loaded = check(&two);
    let syntax = loaded[0]
        .diagnostics
        .iter()
        .find(|d| d.code == "PARSE-YAML")
        .unwrap();
    assert_eq!((syntax.document, syntax.line), (1, Some(137)));
}

/// A syntax error at the end of a text without a final line break:
/// libyaml places it on the line after the last; it is reported at the end
/// of the last line.
#[test]
fn errors_at_the_end_of_input_stay_on_the_last_line() {
    let mut doc = b"apiVersion: telemetry.istio.io/v1alpha1\nkind: Telemetry\nmetadata:\n  name: bad-tag-remove\nspec:\n  metrics:\n  - overrides:\n    - tagOverrides:\n        foo:\n          operation: REMOVE\n          value: oops\n".to_vec();
    doc.extend(std::iter::repeat_n(0xff, 45));
    doc.extend_from_slice(b"---");
    let loaded = check(&doc);
    let d = &loaded[0].diagnostics[0];
    assert_eq!(d.code, "PARSE-YAML");
    assert_eq!((d.line, d.column), (Some(12), Some(49)));
}

/// Explicit keys (`?`) and a block scalar indicator at the end of the
/// input: libyaml reports its error on the line after the last one.
#[test]
fn explicit_keys_then_a_bare_block_scalar() {
    check(b"?\n?\n|");
}
