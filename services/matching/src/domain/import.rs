//! The items of a provider import (`ImportProviders`): a keyed, fingerprinted draft per valid item, and
//! what the import did with each item it stored. The import is all or nothing per stream (see the store).

use super::ProviderDraft;

/// One valid item of a provider import: the caller's key for it, the fingerprint of what it writes and
/// the draft.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportItem {
    /// The caller's key, unique within the organization.
    pub key: String,
    /// [`ProviderDraft::fingerprint`] of `draft`.
    pub fingerprint: String,
    /// What to write.
    pub draft: ProviderDraft,
}

/// What an import did with an item that is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Created by this import.
    Created,
    /// Replaced by this import.
    Updated,
    /// Its key was imported before with the same item: nothing written now.
    Unchanged,
}

/// An item of an import that is stored: how, and the provider and version it wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedItem {
    /// Created, updated or unchanged.
    pub outcome: ImportOutcome,
    /// The provider written.
    pub provider_id: String,
    /// Its version after the write.
    pub version: i64,
}
