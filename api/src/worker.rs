//! Where a job gets dispatched: the one place that knows every [`Job`] and the domain that handles it. The runner
//! ([`jobs::run_due`]) claims rows, renews leases and records outcomes without knowing any domain; each domain owns
//! its handlers; this table joins the two.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use steward_entities::job;

use crate::error::AppError;
use crate::ids::TenantId;
use crate::jobs::{self, Job, NewJob, Outcome};
use crate::owed::Owed;
use crate::tenancy::{Scope, Tenancy, Work};

/// Runs the queue's jobs with what their handlers need.
#[derive(Clone)]
pub struct Dispatcher {
    tenancy: Tenancy,
    mailer: Option<crate::notices::Mailer>,
}

impl Dispatcher {
    pub fn new(tenancy: Tenancy, mailer: Option<crate::notices::Mailer>) -> Self {
        Dispatcher { tenancy, mailer }
    }
}

impl jobs::Handler for Dispatcher {
    fn tenancy(&self) -> &Tenancy {
        &self.tenancy
    }

    async fn handle(
        &self,
        job: Job,
        row: &job::Model,
        now: DateTime<Utc>,
    ) -> Result<Outcome, AppError> {
        let tenancy = &self.tenancy;
        let tenant = || {
            row.tenant_id
                .map(TenantId)
                .ok_or_else(|| AppError::internal(anyhow::anyhow!("job {} has no tenant", row.id)))
        };
        match job {
            Job::ActivateSubProcessors { .. } => {
                crate::registry::activate_due(tenancy, now.date_naive()).await?;
                // The daily sweep also warns, a year ahead, that the holiday calendars end.
                crate::requests::warn_calendars_ending(tenancy, now).await?;
                Ok(Outcome::Done)
            }
            Job::RetentionSweep { .. } => {
                let deleted = crate::retention::sweep(tenancy, now).await?;
                if deleted > 0 {
                    tracing::info!(deleted, "retention sweep deleted values past their period");
                }
                Ok(Outcome::Done)
            }
            Job::ApplyDeferredAudit { .. } => {
                let appended = crate::owed::apply_all(tenancy).await?;
                if appended > 0 {
                    tracing::info!(appended, "deferred audit events appended by the sweep");
                }
                Ok(Outcome::Done)
            }
            Job::ReleaseDisclosureNotices { .. } => {
                crate::accountability::release_disclosure_notices(tenancy, now.date_naive())
                    .await?;
                // The accountability sweep also reminds of breach notices left unacknowledged.
                let reminded = crate::accountability::remind_unacknowledged(tenancy, now).await?;
                if reminded > 0 {
                    tracing::info!(reminded, "breach notices unacknowledged after 24 hours");
                }
                Ok(Outcome::Done)
            }
            Job::Erase { request, .. } => {
                let scope = tenancy.system_scope(tenant()?).await?;
                crate::requests::erase(tenancy, &scope, row, request).await
            }
            Job::DeliverErasure { propagation } => {
                let scope = tenancy.system_scope(tenant()?).await?;
                crate::erasure::propagation::deliver(tenancy, &scope, row, propagation, now).await
            }
            Job::RequestDeadline { request, .. } => {
                crate::requests::remind_deadline(tenancy, row, tenant()?, request, now).await
            }
            Job::ExpireExport { export } => {
                let scope = tenancy.system_scope(tenant()?).await?;
                crate::requests::expire_export(&scope, row, export).await
            }
            Job::DeliverNotice { notice } => {
                let scope = tenancy.system_scope(tenant()?).await?;
                crate::notices::deliver(tenancy, self.mailer.as_ref(), &scope, notice).await
            }
            Job::BuildTenantExport { .. } => {
                let scope = tenancy.system_scope(tenant()?).await?;
                crate::offboarding::export::build(tenancy, &scope, row).await
            }
            Job::FinishOffboarding { .. } => {
                let scope = tenancy.system_scope(tenant()?).await?;
                crate::offboarding::finish(tenancy, &scope, now).await
            }
        }
    }
}

/// Carries out what a control-database change owed its tenant's region ([`crate::owed`]), in the region transaction
/// that appends the change's event: the one place that knows every [`Owed`] and the domain that does it.
pub fn carry_out<'a>(
    scope: &'a Scope,
    txn: &'a Work,
    owed: Owed,
) -> BoxFuture<'a, Result<(), AppError>> {
    Box::pin(async move {
        let tenant = scope.tenant_id();
        match owed {
            Owed::Notice { kind, title, body } => {
                crate::notices::notify(txn, tenant, &kind, &title, &body).await
            }
            Owed::Announcement {
                kind,
                marketing,
                audience,
                title,
                body,
            } => {
                let audience = audience
                    .iter()
                    .map(|r| r.parse::<steward_policy::Role>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| AppError::internal(anyhow::anyhow!("owed announcement: {e}")))?;
                let class = if marketing {
                    crate::notices::Class::Marketing
                } else {
                    crate::notices::Class::Administrative
                };
                crate::notices::file(txn, tenant, &kind, class, &audience, &title, &body).await?;
                Ok(())
            }
            Owed::Job { job, run_at } => {
                let new = NewJob::new(job)
                    .for_tenant(tenant)
                    .dedupe(tenant.0)
                    .at(run_at);
                jobs::enqueue(txn, new).await?;
                Ok(())
            }
            Owed::RescheduleJob { key, run_at } => {
                jobs::reschedule_queued(txn, &key, run_at).await?;
                Ok(())
            }
            Owed::CancelJobs { keys } => {
                jobs::cancel(txn, &keys).await?;
                Ok(())
            }
            Owed::StartTenantExport { due } => {
                crate::offboarding::export::start(txn, scope, due).await?;
                Ok(())
            }
            Owed::DeleteTenantExport => crate::offboarding::export::delete(txn).await,
        }
    })
}

/// Hands back the jobs `worker` still holds (a stop that could not wait for them): their lease ends now, so another
/// instance claims them at once instead of after the lease. Returns how many.
pub async fn release(
    tenancy: &crate::tenancy::Tenancy,
    worker: &crate::jobs::Worker,
) -> Result<u64, sea_orm::DbErr> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let now = chrono::Utc::now();
    let mut released = 0;
    let queues = std::iter::once(tenancy.system().control())
        .chain(tenancy.system().regions().map(|(_, db)| db));
    for db in queues {
        released += steward_entities::job::Entity::update_many()
            .col_expr(steward_entities::job::Column::LockedUntil, Some(now).into())
            .filter(
                steward_entities::job::Column::State.eq(steward_entities::job::JobState::Running),
            )
            .filter(steward_entities::job::Column::LockedBy.eq(worker.id.clone()))
            .exec(db)
            .await?
            .rows_affected;
    }
    Ok(released)
}
