//! sea-orm entities of the referral tables. Only `store` uses them. Times are milliseconds since the
//! epoch; enums are stored as their stable lowercase codes.

/// `referrals`: one row per referral, with its current status and version.
pub mod referral {
    use sea_orm::entity::prelude::*;

    /// A referral row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "referrals")]
    pub struct Model {
        /// Id (UUIDv7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Idempotency key of the creation (unique).
        #[sea_orm(unique)]
        pub idempotency_key: String,
        /// Client.
        pub client_id: String,
        /// Intake.
        pub intake_id: String,
        /// Referring organization.
        pub referrer_organization_id: String,
        /// Recipient organization.
        pub recipient_organization_id: String,
        /// Provider.
        pub provider_id: String,
        /// Status code.
        pub status: String,
        /// Urgency code.
        pub urgency: String,
        /// Taken over capacity.
        pub overbooked: bool,
        /// Response deadline.
        pub response_due_at_ms: i64,
        /// When the first appointment was attended.
        pub care_started_at_ms: Option<i64>,
        /// Version.
        pub version: i64,
        /// Created.
        pub created_at_ms: i64,
        /// Updated.
        pub updated_at_ms: i64,
        /// When escalated to a coordinator (M0002).
        pub escalated_at_ms: Option<i64>,
        /// Ranked alternative provider ids, comma-separated (UUIDs contain no commas) (M0002).
        pub alternative_provider_ids: Option<String>,
        /// A re-route is owed (M0002).
        pub needs_reroute: bool,
        /// The referral this one was re-routed to (M0002).
        pub rerouted_to_referral_id: Option<String>,
        /// The referral this one re-routes (M0002).
        pub rerouted_from_referral_id: Option<String>,
        /// `traceparent` of the creating request, empty when unknown (`migration_trace`).
        pub trace_parent: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `referral_events`: the append-only history of every referral.
pub mod referral_event {
    use sea_orm::entity::prelude::*;

    /// An event row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "referral_events")]
    pub struct Model {
        /// Id (UUIDv7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Referral.
        pub referral_id: String,
        /// Client of the referral (for the care timeline).
        pub client_id: String,
        /// Action code; `None` for the creation event.
        pub action: Option<String>,
        /// Status before; `None` for the creation event.
        pub from_status: Option<String>,
        /// Status after.
        pub to_status: String,
        /// Actor role code.
        pub actor_role: String,
        /// Acting organization.
        pub actor_organization_id: String,
        /// Acting user.
        pub actor_user_id: Option<String>,
        /// Rejection reason code.
        pub rejection_reason: Option<String>,
        /// Operational note.
        pub note: Option<String>,
        /// Appointment time.
        pub appointment_at_ms: Option<i64>,
        /// When it happened.
        pub occurred_at_ms: i64,
        /// Position in the commit-ordered feed (see `migration_feed`).
        pub seq: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `outbox`: work for other services, committed with the change that causes it and delivered by the
/// outbox worker (today: giving a provider's slot back to matching).
pub mod outbox {
    use sea_orm::entity::prelude::*;

    /// An outbox row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        /// Id (UUIDv7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// What to do ("capacity_release").
        pub kind: String,
        /// Referral that caused it.
        pub referral_id: String,
        /// Provider whose capacity changes.
        pub provider_id: String,
        /// Capacity delta.
        pub delta: i32,
        /// Idempotency key of the change in matching.
        pub hold_key: String,
        /// "pending", "delivered" or "dead".
        pub state: String,
        /// Failed deliveries so far.
        pub attempts: i32,
        /// Not before this time.
        pub next_attempt_at_ms: i64,
        /// Replica currently delivering it.
        pub lease_owner: Option<String>,
        /// Its lease ends at this time (0 when free).
        pub lease_until_ms: i64,
        /// Code of the last failure (a gRPC code name, never a message).
        pub last_error: Option<String>,
        /// Created.
        pub created_at_ms: i64,
        /// Delivered (or given up).
        pub finished_at_ms: Option<i64>,
        /// `traceparent` of the request whose change created the row, empty when unknown (`migration_trace`).
        pub trace_parent: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `referral_capacity_holds`: the matching hold key of a referral's slot taken by someone else.
pub mod capacity_hold {
    use sea_orm::entity::prelude::*;

    /// A hold row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "referral_capacity_holds")]
    pub struct Model {
        /// Referral.
        #[sea_orm(primary_key, auto_increment = false)]
        pub referral_id: String,
        /// Matching hold key.
        pub hold_key: String,
        /// When recorded.
        pub created_at_ms: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
