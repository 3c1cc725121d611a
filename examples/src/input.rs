//! Reading mesh inputs: files, directories (recursively: `*.yaml`, `*.yml`,
//! `*.json`) and `-` for standard input.

use std::io::Read;
use std::path::{Path, PathBuf};

/// One input text and its label (the path as given, or `-`).
#[derive(Debug, Clone)]
pub struct Input {
    /// The label used in diagnostics.
    pub label: String,
    /// The text.
    pub text: String,
}

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A path that could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A file that is not UTF-8.
    #[error("{0}: not UTF-8 text")]
    NotUtf8(String),
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads every input named by `paths`.
pub fn read_inputs(paths: &[String]) -> Result<Vec<Input>, InputError> {
    let mut out = Vec::new();
    for p in paths {
        if p == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|source| InputError::Io {
                    path: "-".into(),
                    source,
                })?;
            out.push(Input {
                label: "-".into(),
                text,
            });
            continue;
        }
        let path = Path::new(p);
        let meta = std::fs::metadata(path).map_err(|source| InputError::Io {
            path: p.clone(),
            source,
        })?;
        let files = if meta.is_dir() {
            let mut v = Vec::new();
            collect(path, &mut v).map_err(|source| InputError::Io {
                path: p.clone(),
                source,
            })?;
            v
        } else {
            vec![path.to_path_buf()]
        };
        for f in files {
            let label = f.display().to_string();
            let bytes = std::fs::read(&f).map_err(|source| InputError::Io {
                path: label.clone(),
                source,
            })?;
            let text = String::from_utf8(bytes).map_err(|_| InputError::NotUtf8(label.clone()))?;
            out.push(Input { label, text });
        }
    }
    Ok(out)
}
