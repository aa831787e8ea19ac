//! Field-level encryption at rest: AES-256-GCM with key ids, so keys rotate without downtime — new
//! writes use the active key, and every key still configured decrypts what it wrote.
//!
//! Stored form: `enc:v1:<key id>:<base64url(nonce || ciphertext || tag)>`. The key id and the purpose of
//! the field (for example `intake.submission`) are bound in as associated data, so a value cannot be
//! moved to another field or relabelled with another key id without failing to decrypt.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};

/// Encryption settings (environment variables).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct CryptoSettings {
    /// Keys as `id:base64key` pairs separated by commas (32-byte keys).
    #[arg(long, env = "CONTINUUM_ENCRYPTION_KEYS", hide_env_values = true)]
    pub encryption_keys: Option<SecretString>,
    /// The key id new writes use (default: the last key listed).
    #[arg(long, env = "CONTINUUM_ENCRYPTION_ACTIVE_KEY")]
    pub encryption_active_key: Option<String>,
}

/// Encrypts and decrypts fields, and computes blind indexes (keyed hashes) for identifiers that must be
/// looked up by equality without being stored in clear.
pub struct FieldCipher {
    keys: HashMap<String, LessSafeKey>,
    active: String,
    rng: SystemRandom,
    index_key: ring::hmac::Key,
}

impl std::fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldCipher")
            .field("active", &self.active)
            .field("keys", &self.keys.len())
            .finish()
    }
}

const PREFIX: &str = "enc:v1:";

fn parse_keys(spec: &str) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, b64) =
            part.split_once(':').context("each encryption key must be written id:base64key")?;
        anyhow::ensure!(
            !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "key ids are letters, digits, - and _"
        );
        let bytes = STANDARD
            .decode(b64)
            .or_else(|_| URL_SAFE_NO_PAD.decode(b64))
            .context("an encryption key is not base64")?;
        anyhow::ensure!(bytes.len() == 32, "encryption key {id} must be 32 bytes");
        out.push((id.to_owned(), bytes));
    }
    Ok(out)
}

impl FieldCipher {
    /// A cipher over `keys` (id, 32-byte key) writing with `active`.
    /// The first key listed also keys the blind indexes (HMAC-SHA256 over a derived key), so lookups keep
    /// working across rotations: rotate by adding keys, never by removing the first.
    pub fn new(keys: Vec<(String, Vec<u8>)>, active: &str) -> anyhow::Result<Self> {
        let first = keys
            .first()
            .map(|(_, b)| b.clone())
            .ok_or_else(|| anyhow::anyhow!("no encryption key"))?;
        let derive = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &first);
        let index_key = ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            ring::hmac::sign(&derive, b"continuum-blind-index-v1").as_ref(),
        );
        let mut map = HashMap::new();
        for (id, bytes) in keys {
            let key = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| anyhow::anyhow!("bad key {id}"))?;
            map.insert(id, LessSafeKey::new(key));
        }
        anyhow::ensure!(
            map.contains_key(active),
            "the active encryption key {active} is not configured"
        );
        Ok(Self { keys: map, active: active.to_owned(), rng: SystemRandom::new(), index_key })
    }

    /// From settings, or — when none are configured — from a key file under `data_dir` created on first
    /// use (the embedded local setup; production configures keys).
    pub fn from_settings_or_file(s: &CryptoSettings, key_file: &Path) -> anyhow::Result<Self> {
        if let Some(spec) = s
            .encryption_keys
            .as_ref()
            .map(ExposeSecret::expose_secret)
            .filter(|x| !x.trim().is_empty())
        {
            let keys = parse_keys(spec)?;
            let active = s
                .encryption_active_key
                .clone()
                .or_else(|| keys.last().map(|(id, _)| id.clone()))
                .context("no encryption key")?;
            return Self::new(keys, &active);
        }
        let spec = match std::fs::read_to_string(key_file) {
            Ok(s) => s,
            Err(_) => {
                let mut key = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut key)
                    .map_err(|_| anyhow::anyhow!("no randomness for a new key"))?;
                let spec = format!("local-1:{}", STANDARD.encode(key));
                if let Some(dir) = key_file.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                write_private(key_file, &spec)?;
                spec
            }
        };
        let keys = parse_keys(spec.trim())?;
        let active = keys.last().map(|(id, _)| id.clone()).context("empty key file")?;
        Self::new(keys, &active)
    }

    /// The key id new writes use.
    pub fn active_key(&self) -> &str {
        &self.active
    }

    /// Encrypts `plaintext` for the field `purpose`.
    pub fn encrypt(&self, purpose: &str, plaintext: &[u8]) -> anyhow::Result<String> {
        let key = self.keys.get(&self.active).context("active key missing")?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| anyhow::anyhow!("no randomness for a nonce"))?;
        let mut data = plaintext.to_vec();
        let aad = format!("{}|{purpose}", self.active);
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut data,
        )
        .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}:{}", self.active, URL_SAFE_NO_PAD.encode(out)))
    }

    /// Decrypts a stored value written for `purpose` by any configured key.
    pub fn decrypt(&self, purpose: &str, stored: &str) -> anyhow::Result<Vec<u8>> {
        let rest = stored.strip_prefix(PREFIX).context("value is not encrypted")?;
        let (kid, b64) = rest.split_once(':').context("malformed encrypted value")?;
        let key = self
            .keys
            .get(kid)
            .with_context(|| format!("encryption key {kid} is not configured"))?;
        let raw = URL_SAFE_NO_PAD.decode(b64).context("malformed encrypted value")?;
        anyhow::ensure!(raw.len() > NONCE_LEN, "malformed encrypted value");
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow::anyhow!("bad nonce"))?;
        let mut data = sealed.to_vec();
        let aad = format!("{kid}|{purpose}");
        let plain = key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut data)
            .map_err(|_| anyhow::anyhow!("decryption failed"))?;
        Ok(plain.to_vec())
    }

    /// A deterministic keyed hash of `value` for the field `purpose` (`bix:v1:<hex>`): equal inputs give
    /// equal outputs, so a column can be searched by equality without holding the value.
    pub fn blind_index(&self, purpose: &str, value: &str) -> String {
        let mut ctx = ring::hmac::Context::with_key(&self.index_key);
        ctx.update(purpose.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        let tag = ctx.sign();
        let hex: String = tag.as_ref().iter().take(20).map(|b| format!("{b:02x}")).collect();
        format!("bix:v1:{hex}")
    }

    /// The key id a stored value was written with.
    pub fn key_id_of(stored: &str) -> Option<&str> {
        stored.strip_prefix(PREFIX).and_then(|r| r.split_once(':')).map(|(k, _)| k)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("creating {}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(b: u8) -> Vec<u8> {
        vec![b; 32]
    }

    #[test]
    fn round_trip_and_rotation() {
        let old = FieldCipher::new(vec![("k1".into(), key(1))], "k1").unwrap();
        let stored_old = old.encrypt("intake.submission", b"Jane Doe").unwrap();
        assert!(!stored_old.contains("Jane"));
        let rotated =
            FieldCipher::new(vec![("k1".into(), key(1)), ("k2".into(), key(2))], "k2").unwrap();
        assert_eq!(rotated.decrypt("intake.submission", &stored_old).unwrap(), b"Jane Doe");
        let stored_new = rotated.encrypt("intake.submission", b"John Roe").unwrap();
        assert_eq!(FieldCipher::key_id_of(&stored_new), Some("k2"));
        assert!(
            old.decrypt("intake.submission", &stored_new).is_err(),
            "an old deployment cannot read new keys"
        );
    }

    #[test]
    fn blind_indexes_are_stable_across_rotation_and_hide_the_value() {
        let a = FieldCipher::new(vec![("k1".into(), key(1))], "k1").unwrap();
        let b = FieldCipher::new(vec![("k1".into(), key(1)), ("k2".into(), key(2))], "k2").unwrap();
        let x = a.blind_index("intake.external_client_id", "MRN-001");
        assert_eq!(x, b.blind_index("intake.external_client_id", "MRN-001"));
        assert_ne!(x, a.blind_index("intake.external_client_id", "MRN-002"));
        assert_ne!(x, a.blind_index("other.field", "MRN-001"));
        assert!(!x.contains("MRN") && x.len() <= 64);
    }

    #[test]
    fn purpose_and_tampering_are_detected() {
        let c = FieldCipher::new(vec![("k1".into(), key(1))], "k1").unwrap();
        let s = c.encrypt("a", b"secret").unwrap();
        assert!(c.decrypt("b", &s).is_err());
        let mut t = s.clone();
        t.pop();
        t.push(if s.ends_with('A') { 'B' } else { 'A' });
        assert!(c.decrypt("a", &t).is_err());
        assert_ne!(c.encrypt("a", b"secret").unwrap(), s, "nonces differ");
    }

    #[test]
    fn parses_key_lists() {
        let spec = format!("a:{},b:{}", STANDARD.encode(key(3)), STANDARD.encode(key(4)));
        let c = FieldCipher::from_settings_or_file(
            &CryptoSettings { encryption_keys: Some(spec.into()), encryption_active_key: None },
            Path::new("/nonexistent"),
        )
        .unwrap();
        assert_eq!(c.active_key(), "b");
        assert!(parse_keys("x:short").is_err());
    }
}
