//! sea-orm entities of the intake tables. Only `store` uses them.

/// `intakes`: one row per accepted submission.
pub mod intake {
    use sea_orm::entity::prelude::*;

    /// An intake row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "intakes")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Submitting organization.
        pub organization_id: String,
        /// Idempotency key (unique with the organization).
        pub idempotency_key: String,
        /// Fingerprint of the submitted body.
        pub request_fingerprint: String,
        /// Client id.
        pub client_id: String,
        /// Clinic's client id.
        pub external_client_id: String,
        /// Received, ms.
        pub received_at_ms: i64,
        /// Latest risk level code.
        pub risk_level: String,
        /// Latest level-of-care code.
        pub level_of_care: String,
        /// The routing status when the intake was stored (pending), and nothing after: the routing task's
        /// own status is the one kept (issue 12: copying it here at every finish rewrote the whole intake
        /// row). Written still so that intake replicas of the previous release, which read it, run beside
        /// this one during a rolling upgrade; a later release drops the column.
        pub routing_status: String,
        /// The submission (JSON).
        pub submission: String,
        /// Latest assessment id.
        pub assessment_id: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `assessments`: every assessment of an intake's client, newest last.
pub mod assessment {
    use sea_orm::entity::prelude::*;

    /// An assessment row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "assessments")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Intake.
        pub intake_id: String,
        /// Client.
        pub client_id: String,
        /// When, ms.
        pub assessed_at_ms: i64,
        /// The assessment (JSON).
        pub body: String,
        /// A reassessment override's reason, encrypted (free text); `None` otherwise.
        pub sealed_override_reason: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `routings`: the routing task of each intake (the outbox row) and its decision.
pub mod routing {
    use sea_orm::entity::prelude::*;

    /// A routing row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routings")]
    pub struct Model {
        /// Intake.
        #[sea_orm(primary_key, auto_increment = false)]
        pub intake_id: String,
        /// Status code.
        pub status: String,
        /// The plan (JSON), once matching has answered.
        pub plan: Option<String>,
        /// The decision (JSON).
        pub decision: String,
        /// Attempts made.
        pub attempts: i32,
        /// Next attempt not before, ms.
        pub next_attempt_at_ms: i64,
        /// Lease held until, ms.
        pub lease_until_ms: i64,
        /// Lease holder.
        pub lease_owner: String,
        /// Last error code.
        pub last_error: String,
        /// Updated, ms.
        pub updated_at_ms: i64,
        /// `traceparent` of the request that created the task.
        pub trace_parent: String,
        /// The user who submitted the intake (or asked for the re-route): the peer calls act for them.
        pub acting_user_id: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_events`: append-only; rows are inserted, never updated or deleted.
pub mod audit_event {
    use sea_orm::entity::prelude::*;

    /// An audit row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        /// Id (UUIDv7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// When, ms.
        pub occurred_at_ms: i64,
        /// Who.
        pub user_id: String,
        /// Caller's organization.
        pub organization_id: String,
        /// read / write.
        pub action: String,
        /// Record kind.
        pub record_type: String,
        /// Record id.
        pub record_id: String,
        /// Client.
        pub client_id: String,
        /// RPC.
        pub rpc: String,
        /// Purpose of use.
        pub purpose: String,
        /// Trace id.
        pub trace_id: String,
        /// The organization that owns the record.
        pub owner_organization_id: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `clinical_tasks`: follow-ups with deadlines (codes and ids only).
pub mod clinical_task {
    use sea_orm::entity::prelude::*;

    /// A clinical task row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "clinical_tasks")]
    pub struct Model {
        /// Id (UUIDv7).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Kind code.
        pub kind: String,
        /// Intake.
        pub intake_id: String,
        /// Client.
        pub client_id: String,
        /// The organization that must do it.
        pub organization_id: String,
        /// The assessment that opened it (empty for a routing task).
        pub assessment_id: String,
        /// Opened, ms.
        pub opened_at_ms: i64,
        /// Deadline, ms.
        pub due_at_ms: i64,
        /// Escalated, ms.
        pub escalated_at_ms: Option<i64>,
        /// Completed, ms.
        pub completed_at_ms: Option<i64>,
        /// Who completed it.
        pub completed_by: String,
        /// Version.
        pub version: i64,
        /// W3C traceparent of the request that opened it (the sweep continues that trace).
        pub trace_parent: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
