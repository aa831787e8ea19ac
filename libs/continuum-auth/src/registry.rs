//! The organizations this deployment serves. A token is only as good as the organization it names: a
//! validly signed token for an organization that is not in the registry is refused, so a typo in an
//! identity provider's configuration (or a made-up organization) never becomes a tenant.
//!
//! The registry is a JSON file (`CONTINUUM_ORGANIZATIONS_FILE`; `organizations.json` in the data directory
//! by default), the same file for every service of a deployment (a Kubernetes ConfigMap in production):
//!
//! ```json
//! {"organizations": [{"id": "0190d5a0-0000-7000-8000-000000000001", "name": "Harbor Community Clinic"}]}
//! ```
//!
//! Services re-read it when it changes (checked every few seconds, and at once when a token names an
//! organization not yet known), so adding an organization needs no restart; removing one stops its
//! tokens within [`REFRESH`]. `continuum org add` writes it atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// How long a loaded registry is used before the file is looked at again.
pub const REFRESH: Duration = Duration::from_secs(3);

/// One organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// Organization id (UUID, as in tokens' `org` claim).
    pub id: String,
    /// Display name (operational, never clinical).
    #[serde(default)]
    pub name: String,
}

/// The file's shape.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RegistryFile {
    /// Every organization served.
    #[serde(default)]
    pub organizations: Vec<Organization>,
}

impl RegistryFile {
    /// Reads and checks a registry file (every id a UUID, none twice).
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the organization registry {}", path.display()))?;
        let file: RegistryFile = serde_json::from_str(&text)
            .with_context(|| format!("parsing the organization registry {}", path.display()))?;
        let mut seen = std::collections::HashSet::new();
        for o in &file.organizations {
            anyhow::ensure!(
                uuid::Uuid::parse_str(&o.id).is_ok(),
                "organization registry: {:?} is not a UUID",
                o.id
            );
            anyhow::ensure!(
                seen.insert(o.id.to_ascii_lowercase()),
                "organization registry: {} is listed twice",
                o.id
            );
        }
        Ok(file)
    }

    /// Adds `id` (named `name`) to the registry at `path`, creating the file when missing; an id already
    /// there keeps its entry. The file is replaced atomically (written aside, then renamed), so a service
    /// reading it never sees half a file. Returns whether the organization was new.
    pub fn add(path: &Path, id: &str, name: &str) -> anyhow::Result<bool> {
        anyhow::ensure!(uuid::Uuid::parse_str(id).is_ok(), "{id:?} is not a UUID");
        let id = id.to_ascii_lowercase();
        let mut file = if path.exists() { Self::read(path)? } else { Self::default() };
        if file.organizations.iter().any(|o| o.id.eq_ignore_ascii_case(&id)) {
            return Ok(false);
        }
        file.organizations.push(Organization { id, name: name.to_owned() });
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let aside = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&aside, serde_json::to_vec_pretty(&file)?)
            .with_context(|| format!("writing {}", aside.display()))?;
        std::fs::rename(&aside, path).with_context(|| format!("replacing {}", path.display()))?;
        Ok(true)
    }
}

/// What was read from the file, and when.
#[derive(Debug)]
struct Snapshot {
    ids: BTreeMap<String, Organization>,
    stamp: Option<(SystemTime, u64)>,
    checked: Instant,
}

/// The registry a server checks every caller's organization against.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    state: RwLock<Arc<Snapshot>>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len())))
}

impl Registry {
    /// Loads the registry at `path`; a missing or malformed file is an error (a server that cannot tell
    /// its tenants apart must not start).
    pub fn load(path: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let path = path.into();
        let snapshot = Self::read(&path)?;
        if snapshot.ids.is_empty() {
            tracing::warn!(path = %path.display(), "the organization registry is empty: every token is refused until an organization is added");
        }
        Ok(Self { path, state: RwLock::new(Arc::new(snapshot)) })
    }

    fn read(path: &Path) -> anyhow::Result<Snapshot> {
        let before = stamp(path);
        let file = RegistryFile::read(path).with_context(
            || "set CONTINUUM_ORGANIZATIONS_FILE, or add an organization with `continuum org add`",
        )?;
        let ids = file.organizations.into_iter().map(|o| (o.id.to_ascii_lowercase(), o)).collect();
        Ok(Snapshot { ids, stamp: before, checked: Instant::now() })
    }

    fn current(&self) -> Arc<Snapshot> {
        match self.state.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Re-reads the file when it changed since the last read. A file that became unreadable or malformed
    /// keeps the organizations already loaded (and says so once per change).
    fn refresh(&self, seen: &Snapshot) -> Arc<Snapshot> {
        let now_stamp = stamp(&self.path);
        let next = if now_stamp == seen.stamp {
            Snapshot { ids: seen.ids.clone(), stamp: seen.stamp, checked: Instant::now() }
        } else {
            match Self::read(&self.path) {
                Ok(s) => {
                    tracing::info!(organizations = s.ids.len(), "organization registry reloaded");
                    s
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "organization registry unreadable; keeping the organizations already loaded");
                    Snapshot { ids: seen.ids.clone(), stamp: now_stamp, checked: Instant::now() }
                }
            }
        };
        let next = Arc::new(next);
        match self.state.write() {
            Ok(mut g) => *g = Arc::clone(&next),
            Err(p) => *p.into_inner() = Arc::clone(&next),
        }
        next
    }

    /// Whether `organization_id` is served here. The file is looked at again when the loaded copy is
    /// older than [`REFRESH`], and at once for an id not known yet (a newly added organization works at
    /// its first call).
    pub fn knows(&self, organization_id: &str) -> bool {
        let id = organization_id.to_ascii_lowercase();
        let mut snap = self.current();
        if snap.checked.elapsed() >= REFRESH {
            snap = self.refresh(&snap);
        }
        if snap.ids.contains_key(&id) {
            return true;
        }
        self.refresh(&snap).ids.contains_key(&id)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const A: &str = "0190d5a0-0000-7000-8000-00000000000a";
    const B: &str = "0190d5a0-0000-7000-8000-00000000000b";

    #[test]
    fn knows_what_the_file_lists_and_sees_additions_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("organizations.json");
        assert!(Registry::load(&path).is_err(), "a missing registry is an error");
        assert!(RegistryFile::add(&path, A, "A").unwrap());
        assert!(
            !RegistryFile::add(&path, &A.to_uppercase(), "A again").unwrap(),
            "an id is listed once"
        );
        let r = Registry::load(&path).unwrap();
        assert!(r.knows(A) && r.knows(&A.to_uppercase()));
        assert!(!r.knows(B));
        RegistryFile::add(&path, B, "B").unwrap();
        assert!(r.knows(B), "an organization added to the file is known at its first call");
    }

    #[test]
    fn a_broken_file_keeps_what_was_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("organizations.json");
        RegistryFile::add(&path, A, "A").unwrap();
        let r = Registry::load(&path).unwrap();
        std::fs::write(&path, "{ not json").unwrap();
        assert!(!r.knows(B));
        assert!(r.knows(A), "a malformed file keeps the organizations already loaded");
    }

    #[test]
    fn bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("organizations.json");
        std::fs::write(&path, r#"{"organizations":[{"id":"nope"}]}"#).unwrap();
        assert!(Registry::load(&path).is_err());
        std::fs::write(
            &path,
            format!(r#"{{"organizations":[{{"id":"{A}"}},{{"id":"{}"}}]}}"#, A.to_uppercase()),
        )
        .unwrap();
        assert!(Registry::load(&path).is_err(), "an id listed twice");
        assert!(RegistryFile::add(&path.with_file_name("x.json"), "nope", "x").is_err());
    }
}
