//! An offboarding certificate states only what is true when it is signed. Terminating a tenant whose erasure
//! propagations are still outstanding signs an interim certificate (`is_final = false`, the outstanding ones named);
//! once every propagation is acknowledged or confirmed a final one is signed, and the interim one is kept beside it
//! (`interim_*`). Certificates signed before this distinction have `is_final` NULL.

use sea_orm_migration::{prelude::*, schema::*};

use crate::columns;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::add(
            manager,
            Certificates::Table,
            vec![
                boolean_null(Certificates::IsFinal),
                text_null(Certificates::InterimDocument),
                text_null(Certificates::InterimSignature),
                timestamp_with_time_zone_null(Certificates::InterimIssuedAt),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        columns::drop(
            manager,
            Certificates::Table,
            vec![
                Certificates::IsFinal,
                Certificates::InterimDocument,
                Certificates::InterimSignature,
                Certificates::InterimIssuedAt,
            ],
        )
        .await
    }
}

#[derive(DeriveIden, Clone)]
enum Certificates {
    #[sea_orm(iden = "offboarding_certificates")]
    Table,
    IsFinal,
    InterimDocument,
    InterimSignature,
    InterimIssuedAt,
}
