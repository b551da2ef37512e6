//! Adding and dropping columns the way both databases take them: SQLite takes one change per `ALTER TABLE`.

use sea_orm_migration::prelude::*;

/// Adds `columns` to `table`, one statement each.
pub(crate) async fn add<T: IntoIden + Clone + 'static>(
    manager: &SchemaManager<'_>,
    table: T,
    columns: Vec<ColumnDef>,
) -> Result<(), DbErr> {
    for mut column in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(table.clone())
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// Drops `columns` from `table`, one statement each.
pub(crate) async fn drop<T: IntoIden + Clone + 'static, C: IntoIden + 'static>(
    manager: &SchemaManager<'_>,
    table: T,
    columns: Vec<C>,
) -> Result<(), DbErr> {
    for column in columns {
        manager
            .alter_table(
                Table::alter()
                    .table(table.clone())
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}
