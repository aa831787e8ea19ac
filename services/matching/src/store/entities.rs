//! sea-orm entities of the matching tables. Only `store` uses them.

/// `providers`: one row per clinician or program.
pub mod provider {
    use sea_orm::entity::prelude::*;

    /// A provider row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "providers")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Owning organization.
        pub organization_id: String,
        /// Display name.
        pub display_name: String,
        /// Kind code.
        pub kind: String,
        /// Profile JSON.
        pub profile: String,
        /// Accepting new clients.
        pub accepting_new_clients: bool,
        /// Open slots.
        pub open_slots: i32,
        /// Whether the profile has cohorts (a program whose capacity is its cohorts' seats): a column
        /// so that a take's conditional UPDATE can check it on the row it locks.
        pub has_cohorts: bool,
        /// Version.
        pub version: i64,
        /// Created, ms since the epoch.
        pub created_at_ms: i64,
        /// Updated, ms since the epoch.
        pub updated_at_ms: i64,
        /// Session ratings recorded (alliance learning).
        pub feedback_count: i64,
        /// Sum of SRS totals.
        pub srs_sum: f64,
        /// Sum of style-evidence weights.
        pub style_weight: f64,
        /// Weighted sum of preferred directiveness.
        pub style_dir_sum: f64,
        /// Weighted sum of preferred emotional intensity.
        pub style_int_sum: f64,
        /// Weighted sum of preferred past orientation.
        pub style_past_sum: f64,
        /// Weighted sum of preferred challenge.
        pub style_chal_sum: f64,
        /// When the feedback statistics last changed, ms since the epoch.
        pub stats_updated_at_ms: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `capacity_holds`: capacity changes already applied, by idempotency key.
pub mod capacity_hold {
    use sea_orm::entity::prelude::*;

    /// A hold row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "capacity_holds")]
    pub struct Model {
        /// Idempotency key of the change.
        #[sea_orm(primary_key, auto_increment = false)]
        pub hold_key: String,
        /// Provider changed.
        pub provider_id: String,
        /// Delta applied.
        pub delta: i32,
        /// When applied.
        pub applied_at_ms: i64,
        /// The program cohort the seats came from or went back to (programs with cohorts only).
        pub cohort_code: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `session_feedback`: SRS and ORS ratings per session.
pub mod session_feedback {
    use sea_orm::entity::prelude::*;

    /// A feedback row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "session_feedback")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Provider.
        pub provider_id: String,
        /// Client.
        pub client_id: String,
        /// Session number.
        pub session_number: i32,
        /// SRS total.
        pub srs_total: f64,
        /// ORS total.
        pub ors_total: f64,
        /// Item answers as JSON.
        pub items: String,
        /// When recorded.
        pub recorded_at_ms: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `cohorts`: a program's cohorts with their seat counts (the source of truth for open seats; the
/// profile JSON keeps the rest of the directory entry).
pub mod cohort {
    use sea_orm::entity::prelude::*;

    /// A cohort row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cohorts")]
    pub struct Model {
        /// Program.
        #[sea_orm(primary_key, auto_increment = false)]
        pub provider_id: String,
        /// Cohort code, unique within the program.
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        /// Start, ms since the epoch.
        pub start_ms: i64,
        /// Seats.
        pub seats: i32,
        /// Seats still open.
        pub open_seats: i32,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `capacity_events`: the outbox of "a provider's capacity rose" events for the waitlist.
pub mod capacity_event {
    use sea_orm::entity::prelude::*;

    /// An event row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "capacity_events")]
    pub struct Model {
        /// Event id (the waitlist's idempotency key).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Provider whose capacity rose.
        pub provider_id: String,
        /// The provider's organization.
        pub organization_id: String,
        /// Slots (or seats) opened.
        pub slots: i32,
        /// W3C traceparent of the change that opened them.
        pub traceparent: Option<String>,
        /// "pending", "delivered" or "dead".
        pub state: String,
        /// Delivery attempts so far.
        pub attempts: i32,
        /// Next attempt, ms since the epoch.
        pub next_attempt_at_ms: i64,
        /// Replica holding the delivery lease.
        pub lease_owner: Option<String>,
        /// Lease end, ms since the epoch.
        pub lease_until_ms: i64,
        /// Last failure (a status code name).
        pub last_error: Option<String>,
        /// When written.
        pub created_at_ms: i64,
        /// When delivered or given up.
        pub finished_at_ms: Option<i64>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `alliance_segments`: SRS ratings per provider and client segment (alliance learning from similar
/// clients).
pub mod alliance_segment {
    use sea_orm::entity::prelude::*;

    /// A segment row.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "alliance_segments")]
    pub struct Model {
        /// Provider.
        #[sea_orm(primary_key, auto_increment = false)]
        pub provider_id: String,
        /// Segment code ("adult", "adult/depression").
        #[sea_orm(primary_key, auto_increment = false)]
        pub segment: String,
        /// Ratings recorded.
        pub ratings: i64,
        /// Sum of SRS totals.
        pub srs_sum: f64,
        /// When last changed, ms since the epoch.
        pub updated_at_ms: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `provider_import_keys`: what each import key of an organization wrote (see `ImportProviders`).
pub mod import_key {
    use sea_orm::entity::prelude::*;

    /// One imported item's key.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "provider_import_keys")]
    pub struct Model {
        /// The importing organization.
        #[sea_orm(primary_key, auto_increment = false)]
        pub organization_id: String,
        /// The caller's key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub import_key: String,
        /// Fingerprint of the item (SHA-256 hex of what it writes).
        pub fingerprint: String,
        /// The provider it wrote.
        pub provider_id: String,
        /// The provider's version after the write.
        pub version: i64,
        /// When, ms since the epoch.
        pub imported_at_ms: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
