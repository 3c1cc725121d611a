//! Arbitrary bytes, read as text, through `mesh_analyze`: loading the
//! analysis inputs and running every analyzer (Istio's and ours, default
//! or not) must never panic, and the messages must be the same when the
//! analysis runs again on the same inputs.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_analyze::{AnalysisOptions, Inputs, all_analyzers, analyze};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(inputs) = Inputs::load(&[("fuzz.yaml", &text)], &AnalysisOptions::default()) else {
        return;
    };
    let names: Vec<&str> = all_analyzers().iter().map(|a| a.name).collect();
    let messages = analyze(&inputs, &names).expect("every analyzer is known");
    for m in &messages {
        let _ = m.to_string();
    }
    assert_eq!(analyze(&inputs, &names).expect("known"), messages);
});
