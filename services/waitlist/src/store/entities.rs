//! sea-orm entities of the waitlist tables. Only `store` uses them. Times are milliseconds since the
//! epoch (`continuum_vocab::time`); lists are JSON text.

/// `waitlist_entries`: one row per client waiting (or once waiting) for a set of providers.
pub mod entry {
    use sea_orm::entity::prelude::*;

    /// An entry row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "waitlist_entries")]
    pub struct Model {
        /// Entry id (UUIDv7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Idempotency key of the enqueue (unique).
        #[sea_orm(unique)]
        pub idempotency_key: String,
        /// The waiting client.
        pub client_id: String,
        /// Intake the client came from.
        pub intake_id: String,
        /// Owning organization.
        pub organization_id: String,
        /// Band code.
        pub band: String,
        /// Risk level code given at enqueue.
        pub risk_level: Option<String>,
        /// Candidate provider ids, JSON array of lowercase UUIDs.
        pub candidate_provider_ids: String,
        /// Status code.
        pub status: String,
        /// Level-of-care code.
        pub level_of_care: Option<String>,
        /// Age-group code.
        pub age_group: Option<String>,
        /// Why removed.
        pub removal_reason: Option<String>,
        /// Check-ins missed in a row.
        pub missed_check_ins: i32,
        /// Outreach open.
        pub outreach_open: bool,
        /// Next check-in due.
        pub next_check_in_at_ms: i64,
        /// When enqueued, ms since the epoch.
        pub enqueued_at_ms: i64,
        /// Last change.
        pub updated_at_ms: i64,
        /// Optimistic-concurrency version.
        pub version: i64,
        /// Bridge support code chosen at enqueue (M0002).
        pub bridge_support: Option<String>,
        /// Left for the crisis interlock after a risk rise (M0002).
        pub interlock_required: bool,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `offers`: slots offered to entries, with their holds.
pub mod offer {
    use sea_orm::entity::prelude::*;

    /// An offer row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "offers")]
    pub struct Model {
        /// Offer id (UUIDv7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Entry offered to.
        pub entry_id: String,
        /// Provider whose slot it is.
        pub provider_id: String,
        /// Status code.
        pub status: String,
        /// When the offer was made, ms since the epoch.
        pub offered_at_ms: i64,
        /// Hold ends.
        pub expires_at_ms: i64,
        /// Answered or expired.
        pub responded_at_ms: Option<i64>,
        /// Referral created on acceptance.
        pub referral_id: Option<String>,
        /// First appointment of an accepted offer (M0002).
        pub appointment_at_ms: Option<i64>,
        /// `traceparent` of the request that made the offer, empty when unknown (`migration_trace`).
        pub trace_parent: String,
        /// Matching hold key of the slot the offer holds, when it was taken there (`migration_capacity`).
        pub slot_key: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `check_ins`: every check-in with a waiting client, answered or not, with what it changed.
pub mod check_in {
    use sea_orm::entity::prelude::*;

    /// A check-in row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "check_ins")]
    pub struct Model {
        /// Check-in id (UUIDv7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The entry checked in with.
        pub entry_id: String,
        /// Whether the client answered.
        pub answered: bool,
        /// Screener answers as JSON (`{"phq9": [...], "gad7": [...]}`), when re-screened.
        pub items: Option<String>,
        /// PHQ-9 total.
        pub phq9_total: Option<i32>,
        /// GAD-7 total.
        pub gad7_total: Option<i32>,
        /// Band before.
        pub band_before: String,
        /// Band after.
        pub band_after: String,
        /// Rules that fired, JSON array, with the rules version.
        pub rules: String,
        /// Whether this check-in opened outreach.
        pub outreach_opened: bool,
        /// Whether this check-in showed a rise in risk (crisis interlock) (M0002).
        pub interlock: bool,
        /// When recorded.
        pub recorded_at_ms: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `capacity_events_seen`: matching capacity events already turned into offers (idempotency).
pub mod capacity_event_seen {
    use sea_orm::entity::prelude::*;

    /// A seen-event row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "capacity_events_seen")]
    pub struct Model {
        /// Matching's event id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: String,
        /// The provider whose slots the event opened.
        pub provider_id: String,
        /// Offers made.
        pub offers: i32,
        /// When handled.
        pub received_at_ms: i64,
        /// The organization the event acted for (the provider's): its slots are given back for it.
        pub organization_id: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `slot_releases`: slots to give back to matching (an offer chain ended with nobody eligible).
pub mod slot_release {
    use sea_orm::entity::prelude::*;

    /// A release row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "slot_releases")]
    pub struct Model {
        /// Matching hold key the slot was taken under.
        #[sea_orm(primary_key, auto_increment = false)]
        pub slot_key: String,
        /// The provider whose slot goes back.
        pub provider_id: String,
        /// "pending", "delivered" or "dead".
        pub state: String,
        /// Attempts so far.
        pub attempts: i32,
        /// Next attempt, ms since the epoch.
        pub next_attempt_at_ms: i64,
        /// Replica holding the lease.
        pub lease_owner: Option<String>,
        /// Lease end, ms since the epoch.
        pub lease_until_ms: i64,
        /// Last failure.
        pub last_error: Option<String>,
        /// When the row was written, ms since the epoch.
        pub created_at_ms: i64,
        /// Delivered or given up.
        pub finished_at_ms: Option<i64>,
        /// `traceparent` of the change that ended the offer chain ("" when unknown).
        pub trace_parent: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
