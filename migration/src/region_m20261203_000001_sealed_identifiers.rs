//! A subject's `externalId`, a record's `source`, and a request's `note` and reasons (pause, extension, rejection) are
//! personal data: from here on they are stored only sealed under the subject's key (so they vanish with it), and `externalId` is found and kept unique through a
//! per-tenant blind index instead of its clear text.
//!
//! Rows written before are converted in place: each value is sealed with the keys the server hands over through
//! [`crate::with_sealer`] (a migration run without them fails if there is anything to convert), its clear column is
//! overwritten, and the clear columns are then dropped. A request whose subject was already erased loses its note and reasons:
//! there is no key left to seal it under, and the person's data was to be gone.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use uuid::Uuid;

use crate::Sealer;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Rows converted per statement batch: bounded memory whatever the region's size.
const BATCH: u64 = 500;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on SQLite too: a conversion that fails (no keys, a key that does not open) changes nothing.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let (blob, empty_blob) = match backend {
            DbBackend::Postgres => ("bytea", "'\\x'::bytea"),
            _ => ("blob", "x''"),
        };
        // SQLite adds a NOT NULL column only with a default; PostgreSQL's default is dropped once every row has a value.
        for (table, column, kind, default) in [
            ("data_subjects", "external_id_sealed", blob, empty_blob),
            ("data_subjects", "external_id_index", "varchar(64)", "''"),
            ("personal_data", "source_sealed", blob, empty_blob),
        ] {
            db.execute_unprepared(&format!(
                "ALTER TABLE \"{table}\" ADD COLUMN \"{column}\" {kind} NOT NULL DEFAULT {default}"
            ))
            .await?;
        }
        for column in REQUEST_TEXTS {
            db.execute_unprepared(&format!(
                "ALTER TABLE \"dsr_requests\" ADD COLUMN \"{column}_sealed\" {blob}"
            ))
            .await?;
        }
        // The old unique index would collide on the overwritten (emptied) clear values.
        db.execute_unprepared("DROP INDEX \"data_subjects_external_id_unique\"")
            .await?;

        let sealer = crate::sealer();
        convert_subjects(db, backend, sealer.as_deref()).await?;
        convert_sources(db, backend, sealer.as_deref()).await?;
        for column in REQUEST_TEXTS {
            convert_request_text(db, backend, sealer.as_deref(), column).await?;
        }

        for (table, column) in [
            ("data_subjects", "external_id"),
            ("personal_data", "source"),
        ]
        .into_iter()
        .chain(REQUEST_TEXTS.map(|c| ("dsr_requests", c)))
        {
            db.execute_unprepared(&format!("ALTER TABLE \"{table}\" DROP COLUMN \"{column}\""))
                .await?;
        }
        if backend == DbBackend::Postgres {
            for (table, column) in [
                ("data_subjects", "external_id_sealed"),
                ("data_subjects", "external_id_index"),
                ("personal_data", "source_sealed"),
            ] {
                db.execute_unprepared(&format!(
                    "ALTER TABLE \"{table}\" ALTER COLUMN \"{column}\" DROP DEFAULT"
                ))
                .await?;
            }
        }
        manager
            .create_index(
                Index::create()
                    .name("data_subjects_external_id_index_unique")
                    .table(DataSubjects::Table)
                    .col(DataSubjects::TenantId)
                    .col(DataSubjects::ExternalIdIndex)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    /// Brings back the clear columns, empty: sealed values cannot be opened without the server's keys, so going down
    /// loses them (development only).
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX \"data_subjects_external_id_index_unique\"")
            .await?;
        for (table, column) in [
            ("data_subjects", "external_id_sealed"),
            ("data_subjects", "external_id_index"),
            ("personal_data", "source_sealed"),
            ("dsr_requests", "note_sealed"),
            ("dsr_requests", "pause_reason_sealed"),
            ("dsr_requests", "extension_reason_sealed"),
            ("dsr_requests", "rejection_reason_sealed"),
        ] {
            db.execute_unprepared(&format!("ALTER TABLE \"{table}\" DROP COLUMN \"{column}\""))
                .await?;
        }
        for (table, column, kind) in [
            ("data_subjects", "external_id", "varchar(200) NULL"),
            (
                "personal_data",
                "source",
                "varchar(200) NOT NULL DEFAULT ''",
            ),
            ("dsr_requests", "note", "text NULL"),
            ("dsr_requests", "pause_reason", "text NULL"),
            ("dsr_requests", "extension_reason", "text NULL"),
            ("dsr_requests", "rejection_reason", "text NULL"),
        ] {
            db.execute_unprepared(&format!(
                "ALTER TABLE \"{table}\" ADD COLUMN \"{column}\" {kind}"
            ))
            .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("data_subjects_external_id_unique")
                    .table(DataSubjects::Table)
                    .col(DataSubjects::TenantId)
                    .col(DataSubjects::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

fn need(sealer: Option<&dyn Sealer>) -> Result<&dyn Sealer, DbErr> {
    sealer.ok_or_else(|| {
        DbErr::Migration(
            "this region holds clear external ids, sources or notes to seal: run the migration through `steward \
             migrate` or `steward serve`, which hold the keys"
                .into(),
        )
    })
}

fn sealing_failed(what: &str, id: Uuid, error: String) -> DbErr {
    DbErr::Migration(format!("sealing the {what} of {id}: {error}"))
}

/// Binds `$n` on PostgreSQL, `?` on SQLite.
fn sql(backend: DbBackend, text: &str, values: Vec<Value>) -> Statement {
    let text = match backend {
        DbBackend::Postgres => {
            let mut out = String::with_capacity(text.len());
            let mut n = 0;
            for c in text.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => text.to_owned(),
    };
    Statement::from_sql_and_values(backend, text, values)
}

/// Every subject: its external id sealed and indexed, the clear text overwritten.
async fn convert_subjects(
    db: &SchemaManagerConnection<'_>,
    backend: DbBackend,
    sealer: Option<&dyn Sealer>,
) -> Result<(), DbErr> {
    loop {
        let rows = db
            .query_all_raw(sql(
                backend,
                &format!(
                    "SELECT tenant_id, id, external_id, wrapped_key FROM data_subjects \
                     WHERE external_id <> '' LIMIT {BATCH}"
                ),
                vec![],
            ))
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let sealer = need(sealer)?;
        for row in rows {
            let tenant: Uuid = row.try_get("", "tenant_id")?;
            let id: Uuid = row.try_get("", "id")?;
            let clear: String = row.try_get("", "external_id")?;
            let wrapped: Vec<u8> = row.try_get("", "wrapped_key")?;
            let sealed = sealer
                .seal(tenant, id, &wrapped, crate::EXTERNAL_ID_CONTEXT, &clear)
                .map_err(|e| sealing_failed("external id", id, e))?;
            let index = sealer.external_id_index(tenant, &clear);
            db.execute_raw(sql(
                backend,
                "UPDATE data_subjects SET external_id_sealed = ?, external_id_index = ?, external_id = '' \
                 WHERE tenant_id = ? AND id = ?",
                vec![sealed.into(), index.into(), tenant.into(), id.into()],
            ))
            .await?;
            sealer.converted();
        }
    }
}

/// Every record's source, sealed under its subject's key.
async fn convert_sources(
    db: &SchemaManagerConnection<'_>,
    backend: DbBackend,
    sealer: Option<&dyn Sealer>,
) -> Result<(), DbErr> {
    loop {
        let rows = db
            .query_all_raw(sql(
                backend,
                &format!(
                    "SELECT r.tenant_id, r.id, r.subject_id, r.source, s.wrapped_key FROM personal_data r \
                     JOIN data_subjects s ON s.tenant_id = r.tenant_id AND s.id = r.subject_id \
                     WHERE r.source <> '' LIMIT {BATCH}"
                ),
                vec![],
            ))
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let sealer = need(sealer)?;
        for row in rows {
            let tenant: Uuid = row.try_get("", "tenant_id")?;
            let id: Uuid = row.try_get("", "id")?;
            let subject: Uuid = row.try_get("", "subject_id")?;
            let clear: String = row.try_get("", "source")?;
            let wrapped: Vec<u8> = row.try_get("", "wrapped_key")?;
            let sealed = sealer
                .seal(
                    tenant,
                    subject,
                    &wrapped,
                    &crate::source_context(id),
                    &clear,
                )
                .map_err(|e| sealing_failed("source", id, e))?;
            db.execute_raw(sql(
                backend,
                "UPDATE personal_data SET source_sealed = ?, source = '' WHERE tenant_id = ? AND id = ?",
                vec![sealed.into(), tenant.into(), id.into()],
            ))
            .await?;
            sealer.converted();
        }
    }
}

/// The free texts of a request: its note and the reasons given with its transitions.
const REQUEST_TEXTS: [&str; 4] = [
    "note",
    "pause_reason",
    "extension_reason",
    "rejection_reason",
];

/// One of a request's free texts, sealed under its subject's key; dropped where the subject (and its key) is gone.
async fn convert_request_text(
    db: &SchemaManagerConnection<'_>,
    backend: DbBackend,
    sealer: Option<&dyn Sealer>,
    column: &str,
) -> Result<(), DbErr> {
    loop {
        let rows = db
            .query_all_raw(sql(
                backend,
                &format!(
                    "SELECT r.tenant_id, r.id, r.subject_id, r.{column} AS clear, s.wrapped_key FROM dsr_requests r \
                     LEFT JOIN data_subjects s ON s.tenant_id = r.tenant_id AND s.id = r.subject_id \
                     WHERE r.{column} IS NOT NULL LIMIT {BATCH}"
                ),
                vec![],
            ))
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let sealer = need(sealer)?;
        for row in rows {
            let tenant: Uuid = row.try_get("", "tenant_id")?;
            let id: Uuid = row.try_get("", "id")?;
            let subject: Uuid = row.try_get("", "subject_id")?;
            let clear: String = row.try_get("", "clear")?;
            let wrapped: Option<Vec<u8>> = row.try_get("", "wrapped_key")?;
            let context = if column == "note" {
                crate::note_context(id)
            } else {
                crate::reason_context(column, id)
            };
            let sealed = wrapped
                .map(|wrapped| {
                    sealer
                        .seal(tenant, subject, &wrapped, &context, &clear)
                        .map_err(|e| sealing_failed(column, id, e))
                })
                .transpose()?;
            db.execute_raw(sql(
                backend,
                &format!(
                    "UPDATE dsr_requests SET {column}_sealed = ?, {column} = NULL WHERE tenant_id = ? AND id = ?"
                ),
                vec![sealed.into(), tenant.into(), id.into()],
            ))
            .await?;
            sealer.converted();
        }
    }
}

#[derive(DeriveIden)]
enum DataSubjects {
    Table,
    TenantId,
    ExternalId,
    ExternalIdIndex,
}
