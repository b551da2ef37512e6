//! Requests from individuals, on the controller's clock and with their effects.
//!
//! - `controller_received_on`: the day the controller received the request from the person, from which its own
//!   one-month deadline runs (Art. 12(3)); `NULL` for requests submitted before it was asked (read as the day we
//!   received them).
//! - `paused_while_overdue`: a request paused after its due date stays overdue while paused (its clock stopped
//!   late, not in time); set when it is paused and cleared when it resumes, so the overdue list finds it with one
//!   comparison on either database. Requests paused before this migration get it from their dates.
//! - `objected_purpose`: the purpose an `OBJECTION` request objects to (Art. 21); and on `personal_data`,
//!   `restricted_by_request`: the objection that restricts a value held for that purpose (Art. 18(1)(d)) until the
//!   controller resolves it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            DsrRequests::Table,
            vec![
                ColumnDef::new(DsrRequests::ControllerReceivedOn)
                    .date()
                    .null()
                    .to_owned(),
                ColumnDef::new(DsrRequests::ObjectedPurpose)
                    .string_len(100)
                    .null()
                    .to_owned(),
                ColumnDef::new(DsrRequests::PausedWhileOverdue)
                    .boolean()
                    .not_null()
                    .default(false)
                    .to_owned(),
            ],
        )
        .await?;
        columns::add(
            manager,
            PersonalData::Table,
            vec![
                ColumnDef::new(PersonalData::RestrictedByRequest)
                    .uuid()
                    .null()
                    .to_owned(),
            ],
        )
        .await?;
        // Overdue from the midnight (UTC) after the due day; `paused_at` is stored in UTC on both databases.
        let backfill = match manager.get_database_backend() {
            DbBackend::Postgres => {
                "UPDATE dsr_requests SET paused_while_overdue = TRUE WHERE state = 'paused' \
                 AND paused_at >= ((due_on + 1)::timestamp AT TIME ZONE 'UTC')"
            }
            _ => {
                "UPDATE dsr_requests SET paused_while_overdue = 1 WHERE state = 'paused' \
                 AND paused_at >= date(due_on, '+1 day')"
            }
        };
        manager
            .get_connection()
            .execute_unprepared(backfill)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::drop(
            manager,
            PersonalData::Table,
            vec![PersonalData::RestrictedByRequest],
        )
        .await?;
        columns::drop(
            manager,
            DsrRequests::Table,
            vec![
                DsrRequests::PausedWhileOverdue,
                DsrRequests::ObjectedPurpose,
                DsrRequests::ControllerReceivedOn,
            ],
        )
        .await
    }
}

#[derive(DeriveIden, Clone)]
enum DsrRequests {
    Table,
    ControllerReceivedOn,
    ObjectedPurpose,
    PausedWhileOverdue,
}

#[derive(DeriveIden, Clone)]
enum PersonalData {
    Table,
    RestrictedByRequest,
}
