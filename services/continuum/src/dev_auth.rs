//! The local development setup: `continuum up` and `continuum token mint` share one HS256 secret kept in
//! the data directory (created on first use, readable only by its owner), unless the environment
//! configures authentication, and `up` registers the demo organizations in the data directory's
//! organization registry. Production configures a JWKS, a service secret and its own registry instead.

use anyhow::Context;
use continuum_runtime::CommonSettings;

/// Fills in the development secret from `<data_dir>/dev-auth.secret` (creating it) when the settings have
/// neither a dev secret nor a JWKS file.
pub fn ensure_dev_secret(common: &mut CommonSettings) -> anyhow::Result<()> {
    if common.auth.dev_secret.is_some() || common.auth.jwks_file.is_some() {
        return Ok(());
    }
    std::fs::create_dir_all(&common.data_dir)
        .with_context(|| format!("creating {}", common.data_dir.display()))?;
    let path = common.data_dir.join("dev-auth.secret");
    let secret = match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => {
            let s = continuum_auth::token::random_secret();
            write_private(&path, &s)?;
            s
        }
    };
    common.auth.dev_secret = Some(secret.into());
    Ok(())
}

/// Makes sure the organization registry lists the demo organizations (creating the file when missing):
/// `up` prints a token of the demo organization, which must be served. Only for the development setup.
pub fn ensure_demo_organizations(common: &CommonSettings) -> anyhow::Result<()> {
    let path = common.organizations_file();
    for (id, name) in [
        (crate::demo::HARBOR_ORG, "Harbor Community Mental Health"),
        (crate::demo::RIVERBEND_ORG, "Riverbend Youth & Family Services"),
    ] {
        if continuum_auth::registry::RegistryFile::add(&path, id, name)? {
            tracing::info!(organization_id = id, "demo organization registered");
        }
    }
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents)?;
    Ok(())
}
