//! The intake service's schema, as sea-orm migrations. Run at start-up and by `continuum migrate`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// All migrations of the intake service, in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Intakes),
            Box::new(M0002Audit),
            Box::new(M0003OverrideReason),
            Box::new(M0004TraceParent),
            Box::new(M0005CareRelationships),
            Box::new(M0006ClinicalTasks),
            Box::new(M0007PartialIndexes),
        ]
    }
}

#[derive(DeriveIden)]
enum Intakes {
    Table,
    Id,
    OrganizationId,
    IdempotencyKey,
    RequestFingerprint,
    ClientId,
    ExternalClientId,
    ReceivedAtMs,
    RiskLevel,
    LevelOfCare,
    RoutingStatus,
    Submission,
    AssessmentId,
}

#[derive(DeriveIden)]
enum Assessments {
    Table,
    Id,
    IntakeId,
    ClientId,
    AssessedAtMs,
    Body,
    SealedOverrideReason,
}

#[derive(DeriveIden)]
enum Routings {
    Table,
    IntakeId,
    Status,
    Plan,
    Decision,
    Attempts,
    NextAttemptAtMs,
    LeaseUntilMs,
    LeaseOwner,
    LastError,
    UpdatedAtMs,
    TraceParent,
    ActingUserId,
}

/// Intakes, their assessments, and the routing task (the transactional outbox of routing).
struct M0001Intakes;

// Names are written out: the derive would name every migration in this file after the file.
impl MigrationName for M0001Intakes {
    fn name(&self) -> &str {
        "m0001_intakes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0001Intakes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Intakes::Table)
                .if_not_exists()
                .col(string_len(Intakes::Id, 36).primary_key())
                .col(string_len(Intakes::OrganizationId, 36))
                .col(string_len(Intakes::IdempotencyKey, 128))
                .col(string_len(Intakes::RequestFingerprint, 32))
                .col(string_len(Intakes::ClientId, 36))
                .col(string_len(Intakes::ExternalClientId, 128))
                .col(big_integer(Intakes::ReceivedAtMs))
                .col(string_len(Intakes::RiskLevel, 32))
                .col(string_len(Intakes::LevelOfCare, 32))
                .col(string_len(Intakes::RoutingStatus, 32))
                .col(text(Intakes::Submission))
                .col(string_len(Intakes::AssessmentId, 36))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("intakes_org_idempotency_key")
                .table(Intakes::Table)
                .col(Intakes::OrganizationId)
                .col(Intakes::IdempotencyKey)
                .unique()
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("intakes_org_id")
                .table(Intakes::Table)
                .col(Intakes::OrganizationId)
                .col(Intakes::Id)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("intakes_org_external_client")
                .table(Intakes::Table)
                .col(Intakes::OrganizationId)
                .col(Intakes::ExternalClientId)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Assessments::Table)
                .if_not_exists()
                .col(string_len(Assessments::Id, 36).primary_key())
                .col(string_len(Assessments::IntakeId, 36))
                .col(string_len(Assessments::ClientId, 36))
                .col(big_integer(Assessments::AssessedAtMs))
                .col(text(Assessments::Body))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("assessments_intake")
                .table(Assessments::Table)
                .col(Assessments::IntakeId)
                .col(Assessments::Id)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Routings::Table)
                .if_not_exists()
                .col(string_len(Routings::IntakeId, 36).primary_key())
                .col(string_len(Routings::Status, 32))
                .col(text_null(Routings::Plan))
                .col(text(Routings::Decision))
                .col(integer(Routings::Attempts))
                .col(big_integer(Routings::NextAttemptAtMs))
                .col(big_integer(Routings::LeaseUntilMs))
                .col(string_len(Routings::LeaseOwner, 64))
                .col(string_len(Routings::LastError, 64))
                .col(big_integer(Routings::UpdatedAtMs))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("routings_due")
                .table(Routings::Table)
                .col(Routings::Status)
                .col(Routings::NextAttemptAtMs)
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Routings::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Assessments::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Intakes::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    OccurredAtMs,
    UserId,
    OrganizationId,
    Action,
    RecordType,
    RecordId,
    ClientId,
    Rpc,
    Purpose,
    TraceId,
    OwnerOrganizationId,
}

/// The append-only audit log of every read and write of personal health information.
pub(crate) struct M0002Audit;

impl MigrationName for M0002Audit {
    fn name(&self) -> &str {
        "m0002_audit"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002Audit {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .if_not_exists()
                .col(string_len(AuditEvents::Id, 36).primary_key())
                .col(big_integer(AuditEvents::OccurredAtMs))
                .col(string_len(AuditEvents::UserId, 200))
                .col(string_len(AuditEvents::OrganizationId, 64))
                .col(string_len(AuditEvents::Action, 16))
                .col(string_len(AuditEvents::RecordType, 32))
                .col(string_len(AuditEvents::RecordId, 36))
                .col(string_len(AuditEvents::ClientId, 36))
                .col(string_len(AuditEvents::Rpc, 128))
                .col(string_len(AuditEvents::Purpose, 64))
                .col(string_len(AuditEvents::TraceId, 32))
                .to_owned(),
        )
        .await?;
        for (name, col) in
            [("audit_client", AuditEvents::ClientId), ("audit_user", AuditEvents::UserId)]
        {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(AuditEvents::Table)
                    .col(col)
                    .col(AuditEvents::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AuditEvents::Table).to_owned()).await
    }
}

/// The encrypted reason of a clinician override given with a reassessment.
struct M0003OverrideReason;

impl MigrationName for M0003OverrideReason {
    fn name(&self) -> &str {
        "m0003_override_reason"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0003OverrideReason {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Assessments::Table)
                .add_column(text_null(Assessments::SealedOverrideReason))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Assessments::Table)
                .drop_column(Assessments::SealedOverrideReason)
                .to_owned(),
        )
        .await
    }
}

/// The W3C `traceparent` of the request that created a routing task, so background retries join its trace.
struct M0004TraceParent;

impl MigrationName for M0004TraceParent {
    fn name(&self) -> &str {
        "m0004_routing_trace_parent"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0004TraceParent {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Routings::Table)
                .add_column(string_len(Routings::TraceParent, 64).default(""))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Routings::Table).drop_column(Routings::TraceParent).to_owned(),
        )
        .await
    }
}

/// Care relationships: audit rows name the organization that owns the record (its ops read them), intakes
/// are found by client (who owns a client), and a routing task records the user who submitted the intake
/// (its peer calls act for that user).
struct M0005CareRelationships;

impl MigrationName for M0005CareRelationships {
    fn name(&self) -> &str {
        "m0005_care_relationships"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0005CareRelationships {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(AuditEvents::Table)
                .add_column(string_len(AuditEvents::OwnerOrganizationId, 64).default(""))
                .to_owned(),
        )
        .await?;
        // Rows written before: the owner is the organization of the client's intakes.
        m.get_connection()
            .execute_unprepared(
                "UPDATE audit_events SET owner_organization_id = \
                 COALESCE((SELECT i.organization_id FROM intakes i WHERE i.client_id = audit_events.client_id LIMIT 1), organization_id)",
            )
            .await?;
        m.create_index(
            Index::create()
                .name("audit_owner")
                .table(AuditEvents::Table)
                .col(AuditEvents::OwnerOrganizationId)
                .col(AuditEvents::Id)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("intakes_client")
                .table(Intakes::Table)
                .col(Intakes::ClientId)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Routings::Table)
                .add_column(string_len(Routings::ActingUserId, 200).default(""))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Routings::Table).drop_column(Routings::ActingUserId).to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name("intakes_client").table(Intakes::Table).to_owned()).await?;
        m.drop_index(Index::drop().name("audit_owner").table(AuditEvents::Table).to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table(AuditEvents::Table)
                .drop_column(AuditEvents::OwnerOrganizationId)
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum ClinicalTasks {
    Table,
    Id,
    Kind,
    IntakeId,
    ClientId,
    OrganizationId,
    AssessmentId,
    OpenedAtMs,
    DueAtMs,
    EscalatedAtMs,
    CompletedAtMs,
    CompletedBy,
    Version,
    TraceParent,
}

/// Clinical tasks with deadlines (a same-day risk assessment, a risk review, a coordinator's crisis task;
/// issue 13), swept for escalation by due time.
struct M0006ClinicalTasks;

impl MigrationName for M0006ClinicalTasks {
    fn name(&self) -> &str {
        "m0006_clinical_tasks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0006ClinicalTasks {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ClinicalTasks::Table)
                .if_not_exists()
                .col(string_len(ClinicalTasks::Id, 64).primary_key())
                .col(string_len(ClinicalTasks::Kind, 64))
                .col(string_len(ClinicalTasks::IntakeId, 64))
                .col(string_len(ClinicalTasks::ClientId, 64))
                .col(string_len(ClinicalTasks::OrganizationId, 64))
                .col(string_len(ClinicalTasks::AssessmentId, 64))
                .col(big_integer(ClinicalTasks::OpenedAtMs))
                .col(big_integer(ClinicalTasks::DueAtMs))
                .col(big_integer_null(ClinicalTasks::EscalatedAtMs))
                .col(big_integer_null(ClinicalTasks::CompletedAtMs))
                .col(string_len(ClinicalTasks::CompletedBy, 200).default(""))
                .col(big_integer(ClinicalTasks::Version))
                .col(string_len(ClinicalTasks::TraceParent, 128).default(""))
                .to_owned(),
        )
        .await?;
        // The sweep: open tasks by deadline; the worklist: an organization's tasks by id; the timeline: a
        // client's tasks.
        for (name, cols) in [
            ("clinical_tasks_due", vec![ClinicalTasks::CompletedAtMs, ClinicalTasks::DueAtMs]),
            ("clinical_tasks_org", vec![ClinicalTasks::OrganizationId, ClinicalTasks::Id]),
            ("clinical_tasks_intake", vec![ClinicalTasks::IntakeId]),
        ] {
            let mut idx = Index::create();
            idx.name(name).table(ClinicalTasks::Table).if_not_exists();
            for c in cols {
                idx.col(c);
            }
            m.create_index(idx.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ClinicalTasks::Table).to_owned()).await
    }
}

/// Indexes that hold only the rows their readers look for (issue 12). Every intake's routing task used to
/// enter `routings_due` (status, due time) twice, at its insert and again when the finish changed its
/// status, and every intake without a clinic client id entered `intakes_org_external_client` under the
/// same empty key. Now the queue's index holds the pending tasks only (the worker's claims and the pending
/// count), a second one the tasks left for a coordinator (ListIntakes' filter; rare), and the clinic id's
/// index only intakes that carry one: a task finished as referred or waitlisted, and an intake without a
/// clinic id, enter none of them. Their readers name the predicate as a literal, so a prepared statement's
/// generic plan can use them too.
struct M0007PartialIndexes;

impl MigrationName for M0007PartialIndexes {
    fn name(&self) -> &str {
        "m0007_partial_indexes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0007PartialIndexes {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop().name("routings_due").table(Routings::Table).if_exists().to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("intakes_org_external_client")
                .table(Intakes::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("routings_pending_due")
                .table(Routings::Table)
                .col(Routings::NextAttemptAtMs)
                .and_where(Expr::col(Routings::Status).eq("pending"))
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("routings_needs_coordinator")
                .table(Routings::Table)
                .col(Routings::IntakeId)
                .and_where(Expr::col(Routings::Status).eq("needs_coordinator"))
                .if_not_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("intakes_org_external_client")
                .table(Intakes::Table)
                .col(Intakes::OrganizationId)
                .col(Intakes::ExternalClientId)
                .and_where(Expr::col(Intakes::ExternalClientId).ne(""))
                .if_not_exists()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in ["routings_pending_due", "routings_needs_coordinator"] {
            m.drop_index(Index::drop().name(name).table(Routings::Table).if_exists().to_owned())
                .await?;
        }
        m.drop_index(
            Index::drop()
                .name("intakes_org_external_client")
                .table(Intakes::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("routings_due")
                .table(Routings::Table)
                .col(Routings::Status)
                .col(Routings::NextAttemptAtMs)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("intakes_org_external_client")
                .table(Intakes::Table)
                .col(Intakes::OrganizationId)
                .col(Intakes::ExternalClientId)
                .to_owned(),
        )
        .await
    }
}
