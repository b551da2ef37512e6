//! Three things the registry and the deadlines did not know:
//!
//! - each tenant's jurisdiction (`tenants.country`, `subdivision`, `time_zone`): its public holidays, the day
//!   boundaries of its deadlines, and the law its transfers are made under. Tenants created before keep what they
//!   were counted with: the calendar of their region (`DE` for `eu`, `US` for `us`) and UTC days;
//! - a change to the terms of a sub-processor in use, announced and not yet in effect (`subprocessors.pending_terms`,
//!   JSON, and `pending_effective_on`);
//!   A tenant now has several notices about one entry (the entry's, then one per change to its terms), so the
//!   unique index on `(tenant_id, sub_processor_id)` becomes one on `(tenant_id, sub_processor_id, kind,
//!   effective_on)` among notices not withdrawn: still one notice per announcement, however often it is retried;
//! - one standing objection per notice (a client that withdrew its own may object again within the window): the
//!   unique index on `objections.notice_id` holds only for objections not yet resolved;
//! - adequacy decisions recorded as changed by legal (`adequacy_changes`), as mechanism invalidations are.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{columns, json_columns};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            Tenants::Table,
            vec![
                string_len(Tenants::Country, 2).default("DE").to_owned(),
                string_len_null(Tenants::Subdivision, 16),
                string_len(Tenants::TimeZone, 64).default("UTC").to_owned(),
            ],
        )
        .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table(Tenants::Table)
                    .value(Tenants::Country, "US")
                    .and_where(Expr::col(Tenants::Region).eq("us"))
                    .to_owned(),
            )
            .await?;
        columns::add(
            manager,
            Subprocessors::Table,
            vec![
                text_null(Subprocessors::PendingTerms),
                date_null(Subprocessors::PendingEffectiveOn),
            ],
        )
        .await?;
        json_columns::convert(manager, &[("subprocessors", "pending_terms")], false).await?;
        manager
            .drop_index(
                Index::drop()
                    .name("change_notices_unique")
                    .table(ChangeNotices::Table)
                    .to_owned(),
            )
            .await?;
        // A withdrawn change does not count: the same change may be announced again for the same day.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX change_notices_one_per_announcement ON change_notices \
                 (tenant_id, sub_processor_id, kind, effective_on) WHERE status <> 'withdrawn'",
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("objections_one_per_notice")
                    .table(Objections::Table)
                    .to_owned(),
            )
            .await?;
        // A partial index: the same statement on both databases.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX objections_one_open_per_notice ON objections (notice_id) \
                 WHERE resolved_at IS NULL",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AdequacyChanges::Table)
                    .col(pk_uuid(AdequacyChanges::Id))
                    .col(string_len_uniq(AdequacyChanges::Country, 2))
                    .col(date_null(AdequacyChanges::DecidedOn))
                    .col(date_null(AdequacyChanges::WithdrawnOn))
                    .col(text(AdequacyChanges::Reason))
                    .col(string_len(AdequacyChanges::RecordedBy, 300))
                    .col(timestamp_with_time_zone(AdequacyChanges::RecordedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AdequacyChanges::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("objections_one_open_per_notice")
                    .table(Objections::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("objections_one_per_notice")
                    .table(Objections::Table)
                    .col(Objections::NoticeId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("change_notices_one_per_announcement")
                    .table(ChangeNotices::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("change_notices_unique")
                    .table(ChangeNotices::Table)
                    .col(ChangeNotices::TenantId)
                    .col(ChangeNotices::SubProcessorId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        columns::drop(
            manager,
            Subprocessors::Table,
            vec![
                Subprocessors::PendingTerms,
                Subprocessors::PendingEffectiveOn,
            ],
        )
        .await?;
        columns::drop(
            manager,
            Tenants::Table,
            vec![Tenants::Country, Tenants::Subdivision, Tenants::TimeZone],
        )
        .await
    }
}

#[derive(DeriveIden, Clone)]
enum Tenants {
    Table,
    Region,
    Country,
    Subdivision,
    TimeZone,
}

#[derive(DeriveIden, Clone)]
enum Subprocessors {
    Table,
    PendingTerms,
    PendingEffectiveOn,
}

#[derive(DeriveIden)]
enum ChangeNotices {
    Table,
    TenantId,
    SubProcessorId,
}

#[derive(DeriveIden)]
enum Objections {
    Table,
    NoticeId,
}

#[derive(DeriveIden)]
enum AdequacyChanges {
    Table,
    Id,
    Country,
    DecidedOn,
    WithdrawnOn,
    Reason,
    RecordedBy,
    RecordedAt,
}
