//! The generators construct valid meshes: nearly every unfiltered mesh
//! passes `mesh-model` validation, and requests cover every listener.

use mesh_testkit::{Bindings, Target, requests::requests, strategy};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

#[test]
fn unfiltered_meshes_validate() {
    let mut runner = TestRunner::deterministic();
    let mut bad = Vec::new();
    let n = 300;
    for _ in 0..n {
        let mesh = strategy::meshes_unfiltered()
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let yaml = mesh.to_yaml(&Bindings::default());
        let loaded = mesh_model::load(&[("mesh.yaml", yaml.as_str())], &mesh.load_options());
        let errors = loaded.errors();
        if !errors.is_empty() {
            bad.push(format!("{errors:?}\n{yaml}"));
        }
    }
    assert!(
        bad.len() * 50 <= n,
        "{} of {n} generated meshes do not validate; first:\n{}",
        bad.len(),
        bad.first().cloned().unwrap_or_default()
    );
}

#[test]
fn requests_reach_every_kind_of_listener() {
    let mut runner = TestRunner::deterministic();
    let mesh = strategy::meshes().new_tree(&mut runner).unwrap().current();
    let s = requests(&mesh);
    let mut inbound = 0;
    let mut outbound = 0;
    for _ in 0..200 {
        let r = s.new_tree(&mut runner).unwrap().current();
        match r.target {
            Target::Inbound => inbound += 1,
            Target::Outbound(p) => {
                assert!(mesh.ports().contains(&p));
                outbound += 1;
            }
        }
        assert!(r.path.starts_with('/'), "{r:?}");
    }
    assert!(inbound > 10 && outbound > 100, "{inbound} {outbound}");
}
