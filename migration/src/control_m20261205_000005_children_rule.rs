//! The children's rules become the controller's instruction: `tenants.children_rule`, `seed` (the seed policy's:
//! nothing about a child under 13, a guardian's consent for 13 to 17) for every tenant until its admin sets another.

use sea_orm_migration::{prelude::*, schema::*};

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            Tenants::Table,
            vec![
                string_len(Tenants::ChildrenRule, 32)
                    .default("seed")
                    .to_owned(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::drop(manager, Tenants::Table, vec![Tenants::ChildrenRule]).await
    }
}

#[derive(DeriveIden, Clone)]
enum Tenants {
    Table,
    ChildrenRule,
}
