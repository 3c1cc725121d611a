//! A directory of YAML/JSON files as a config source, polled for changes.
//!
//! A file is read again when its size or modification time changed and
//! then held still for one poll interval (so a half-written file is not
//! read), and applied only when its text changed. Deleted files are
//! forgotten.

use super::Sources;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

type Fingerprint = (Option<SystemTime>, u64);

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(p);
        }
    }
}

fn fingerprints(dir: &Path) -> BTreeMap<PathBuf, Fingerprint> {
    let mut files = Vec::new();
    collect(dir, &mut files);
    files
        .into_iter()
        .filter_map(|p| {
            let m = std::fs::metadata(&p).ok()?;
            Some((p, (m.modified().ok(), m.len())))
        })
        .collect()
}

/// The state of a polled directory.
#[derive(Debug)]
pub struct DirSource {
    dir: PathBuf,
    /// Fingerprints seen at the previous poll.
    seen: BTreeMap<PathBuf, Fingerprint>,
    /// Fingerprints of the versions applied.
    applied: BTreeMap<PathBuf, Fingerprint>,
}

impl DirSource {
    /// A source over `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> DirSource {
        DirSource {
            dir: dir.into(),
            seen: BTreeMap::new(),
            applied: BTreeMap::new(),
        }
    }

    fn label(&self, p: &Path) -> String {
        p.strip_prefix(&self.dir).unwrap_or(p).display().to_string()
    }

    /// Reads every file now, whether it is still or not (the first load).
    pub fn load_all(&mut self, sources: &Sources) -> bool {
        let now = fingerprints(&self.dir);
        self.seen = now.clone();
        self.apply(sources, now)
    }

    /// One poll: applies the files that changed and have held still since
    /// the previous poll. Returns whether the mesh changed.
    pub fn poll(&mut self, sources: &Sources) -> bool {
        let now = fingerprints(&self.dir);
        let still: BTreeMap<PathBuf, Fingerprint> = now
            .iter()
            .filter(|(p, f)| self.seen.get(*p) == Some(*f))
            .map(|(p, f)| (p.clone(), *f))
            .collect();
        let removed: Vec<PathBuf> = self
            .applied
            .keys()
            .filter(|p| !now.contains_key(*p))
            .cloned()
            .collect();
        self.seen = now;
        let mut changed = false;
        {
            let mut store = sources.store();
            for p in removed {
                self.applied.remove(&p);
                changed |= store.remove(&self.label(&p));
                tracing::info!(file = %self.label(&p), "file removed");
            }
        }
        let due: BTreeMap<PathBuf, Fingerprint> = still
            .into_iter()
            .filter(|(p, f)| self.applied.get(p) != Some(f))
            .collect();
        changed | self.apply(sources, due)
    }

    fn apply(&mut self, sources: &Sources, files: BTreeMap<PathBuf, Fingerprint>) -> bool {
        let mut changed = false;
        let mut store = sources.store();
        for (p, f) in files {
            let label = self.label(&p);
            let text = match std::fs::read(&p) {
                Ok(b) => match String::from_utf8(b) {
                    Ok(t) => t,
                    Err(_) => {
                        tracing::warn!(file = %label, "not UTF-8 text: ignored");
                        continue;
                    }
                },
                Err(e) => {
                    tracing::warn!(file = %label, error = %e, "could not read");
                    continue;
                }
            };
            self.applied.insert(p, f);
            match store.update(&label, &text) {
                super::store::Update::Applied => {
                    tracing::info!(file = %label, "file applied");
                    changed = true;
                }
                super::store::Update::Rejected => {
                    sources.status_changed();
                }
                super::store::Update::Unchanged => {}
            }
        }
        changed
    }
}

/// Polls `dir` every `interval` until `shutdown`, telling `sources` when
/// the mesh changed.
pub async fn watch(
    mut dir: DirSource,
    sources: Arc<Sources>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if dir.poll(&sources) {
            sources.changed();
        }
    }
}
