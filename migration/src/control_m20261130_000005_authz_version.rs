//! A counter of role-assignment changes. Every change bumps it in its own transaction; each instance compares it with
//! the version it loaded before each request and reloads the assignments when it moved, so a role revoked through one
//! instance binds every other instance from its next request.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuthzState::Table)
                    .col(integer(AuthzState::Id).primary_key())
                    .col(big_integer(AuthzState::Version))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(AuthzState::Table)
                    .columns([AuthzState::Id, AuthzState::Version])
                    .values_panic([1.into(), 0.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuthzState::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuthzState {
    Table,
    Id,
    Version,
}
