//! `Snapshot::changed_since`: the keys a server hands to an incremental
//! compile.

use mesh_model::wire::mesh::MeshConfig;
use mesh_model::{LoadOptions, load};

const A: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: ns}\nspec: {ports: [{port: 80}]}\n";
const B: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: ns}\nspec: {ports: [{port: 80}]}\n";
const C: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: c, namespace: ns}\nspec: {hosts: [a], http: [{route: [{destination: {host: a}}]}]}\n";

fn names(before: &[(&str, &str)], after: &[(&str, &str)]) -> Option<Vec<String>> {
    let o = LoadOptions::default();
    let before = load(before, &o).snapshot;
    let after = load(after, &o).snapshot;
    after.changed_since(&before).map(|keys| {
        let mut n: Vec<String> = keys.into_iter().map(|k| k.name).collect();
        n.sort();
        n
    })
}

#[test]
fn added_removed_and_changed() {
    let c2 = C.replace("host: a}", "host: b}");
    assert_eq!(
        names(&[("a", A), ("c", C)], &[("b", B), ("c", &c2)]).unwrap(),
        ["a", "b", "c"]
    );
    assert!(
        names(&[("a", A), ("c", C)], &[("a", A), ("c", C)])
            .unwrap()
            .is_empty()
    );
}

/// Where a document sits in its file is not configuration.
#[test]
fn moving_a_document_is_no_change() {
    let together = format!("{A}---\n{C}");
    let moved = format!("# a comment\n\n{C}---\n{A}");
    assert!(
        names(&[("f", &together)], &[("f", &moved)])
            .unwrap()
            .is_empty()
    );
}

/// A new mesh config may change everything.
#[test]
fn mesh_config_changes_everything() {
    let before = load(&[("a", A)], &LoadOptions::default()).snapshot;
    let after = load(
        &[("a", A)],
        &LoadOptions {
            mesh: MeshConfig::from_yaml("trustDomain: example.org\n").ok(),
            ..LoadOptions::default()
        },
    )
    .snapshot;
    assert_eq!(after.changed_since(&before), None);
    assert_eq!(before.changed_since(&before).map(|k| k.len()), Some(0));
}
