//! Arbitrary bytes, read as text, through `mesh_model::load`: parsing,
//! schema and webhook checks, locating diagnostics, and building the
//! snapshot must never panic, and every diagnostic it reports must point
//! inside the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh_model::parse::ParseOptions;
use mesh_model::{LoadOptions, load};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Lines as YAML counts them (a bare `\r` ends one too).
    let lines = mesh_model::parse::line_breaks(&text) + 1;
    for parse in [ParseOptions::default(), ParseOptions::lenient()] {
        let opts = LoadOptions {
            parse,
            ..LoadOptions::default()
        };
        let loaded = load(&[("fuzz.yaml", &text)], &opts);
        for d in &loaded.diagnostics {
            let _ = d.to_string();
            if let Some(line) = d.line {
                assert!(
                    line >= 1 && line <= lines,
                    "line {line} outside the input: {d}"
                );
            }
        }
        assert!(loaded.snapshot.len() <= loaded.resources);
    }
});
