//! A job of the durable queue. The same table exists in the control database (platform jobs) and in each region
//! database (jobs that change that region's tenant data).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub tenant_id: Option<Uuid>,
    /// JSON; never personal values.
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    #[sea_orm(unique)]
    pub dedupe_key: Option<String>,
    pub state: JobState,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTimeUtc,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

crate::stored_enum! {
    /// Where a job is in its life.
    pub enum JobState {
        /// Waiting for its `runAt`, or for a worker.
        Queued = "queued",
        /// Claimed by a worker that holds its lease.
        Running = "running",
        Done = "done",
        /// Failed as many times as it may; kept for an operator.
        Dead = "dead",
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
