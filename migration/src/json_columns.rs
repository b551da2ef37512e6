//! Values that are JSON (lists of categories, ids, counts per category, job payloads) move from text columns to JSON
//! columns: `jsonb` on PostgreSQL, so the database itself refuses a value that is not JSON. SQLite has no JSON type
//! (its JSON functions work on text), so there the columns stay as they are. Every stored value was written by
//! `serde_json`, so the cast cannot fail on data Steward wrote.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// Turns each `(table, column)` into a `jsonb` column on PostgreSQL; `back` turns it into text again.
pub async fn convert(
    manager: &SchemaManager<'_>,
    columns: &[(&str, &str)],
    back: bool,
) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    for (table, column) in columns {
        let sql = if back {
            format!(
                r#"ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE text USING "{column}"::text"#
            )
        } else {
            format!(
                r#"ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE jsonb USING "{column}"::jsonb"#
            )
        };
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}
