//! Running the queue: claiming due jobs (network deliveries side by side, the rest one at a time), renewing their
//! leases while they run, recording their outcomes, and reporting the dead.

use std::collections::HashMap;

use super::*;

/// The jobs that are network deliveries (webhooks, SMTP): they hold no transaction while they wait on a peer, so they
/// run side by side, and beside the other jobs.
pub(super) const DELIVERIES: [&str; 2] = ["notice.deliver", "erasure.deliver"];
/// Deliveries one worker runs at once: their network calls overlap instead of queueing behind each other. Every other
/// job (erasures, retention, offboarding, sweeps) runs one at a time beside them, so none waits on a slow peer, and
/// two jobs never hold transactions on two databases against each other.
pub const CONCURRENCY: usize = 8;
/// Jobs of one tenant (or of the platform) a worker runs at once: a tenant whose endpoint is slow or dead holds at
/// most this many slots, and every other tenant's jobs keep running in the rest.
pub const PER_TENANT: usize = 2;
/// How often a pass waiting on running jobs looks for newly due ones.
const REFILL_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// What runs a claimed job: the server's dispatcher ([`crate::worker::Dispatcher`]), which hands each [`Job`] to the
/// domain that owns it.
pub trait Handler: Clone + Send + Sync + 'static {
    /// The tenancy whose queues the runner works through.
    fn tenancy(&self) -> &Tenancy;
    /// Runs one job. A tenant's job sits in its region's queue, so a handler that changes the tenant's data commits its
    /// effect and [`complete_in`] in one transaction of the tenant's scope; the runner hands out no connection.
    fn handle(
        &self,
        job: Job,
        row: &job::Model,
        now: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<Outcome, AppError>> + Send;
}

/// Runs every due job of every queue (up to a bound per queue), at most [`CONCURRENCY`] at once and [`PER_TENANT`]
/// per tenant, and returns how many ran. A running job's lease is renewed while it runs; a handler that panics fails
/// its job (retried like any failure), never the worker.
pub async fn run_due<H: Handler>(
    runner: &H,
    worker: &Worker,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let tenancy = runner.tenancy();
    let mut queues: Vec<(String, DatabaseConnection)> =
        vec![(CONTROL.to_owned(), tenancy.system().control().clone())];
    queues.extend(
        tenancy
            .system()
            .regions()
            .map(|(name, db)| (name.to_owned(), db.clone())),
    );
    let mut claimed: Vec<usize> = vec![0; queues.len()];
    // Spawned, so a running job keeps going (and releases its connection) while the pass claims the next one.
    let mut in_flight: tokio::task::JoinSet<(bool, Ran)> = tokio::task::JoinSet::new();
    // Running deliveries per tenant; whether the one other job is running.
    let mut per_tenant: HashMap<Option<Uuid>, usize> = HashMap::new();
    let mut deliveries = 0;
    let mut other_running = false;
    let mut ran = 0;
    loop {
        let mut claimed_any = false;
        for (i, (queue, db)) in queues.iter().enumerate() {
            for lane_deliveries in [false, true] {
                let full = if lane_deliveries {
                    deliveries >= CONCURRENCY
                } else {
                    other_running
                };
                if full || claimed[i] >= MAX_PER_PASS || worker.is_stopping() {
                    continue;
                }
                let busy: Vec<TenantId> = per_tenant
                    .iter()
                    .filter(|(_, n)| **n >= PER_TENANT)
                    .filter_map(|(t, _)| t.map(TenantId))
                    .collect();
                let platform_busy = per_tenant.get(&None).is_some_and(|n| *n >= PER_TENANT);
                let (busy, platform_busy) = if lane_deliveries {
                    (busy, platform_busy)
                } else {
                    (Vec::new(), false)
                };
                // Jobs queued by the jobs of this pass (a delivery after an erasure) run in it too.
                let now = now.max(Utc::now());
                let Some(job) =
                    claim(db, worker, now, &busy, platform_busy, lane_deliveries).await?
                else {
                    continue;
                };
                claimed[i] += 1;
                claimed_any = true;
                if lane_deliveries {
                    deliveries += 1;
                    *per_tenant.entry(job.tenant_id).or_default() += 1;
                } else {
                    other_running = true;
                }
                let lane = lane_deliveries;
                let (runner, worker, queue, db) =
                    (runner.clone(), worker.clone(), queue.clone(), db.clone());
                // A span per job (kind and id only), the parent of its statements' spans in a trace.
                let span = tracing::info_span!(target: "steward::job", "job", kind = %job.kind, job_id = %job.id, queue = %queue);
                in_flight.spawn(tracing::Instrument::instrument(
                    async move { (lane, run_one(&runner, &worker, &queue, &db, job, now).await) },
                    span,
                ));
            }
        }
        if claimed_any {
            continue;
        }
        if in_flight.is_empty() {
            break;
        }
        tokio::select! {
            Some(joined) = in_flight.join_next() => {
                // run_one catches a handler's panic itself; a join error means the task was cancelled.
                let (lane_deliveries, (tenant, result)) = joined.map_err(AppError::internal)?;
                if lane_deliveries {
                    deliveries -= 1;
                    if let Some(n) = per_tenant.get_mut(&tenant) {
                        *n = n.saturating_sub(1);
                    }
                } else {
                    other_running = false;
                }
                result?;
                ran += 1;
            }
            () = tokio::time::sleep(REFILL_EVERY) => {}
        }
    }
    Ok(ran)
}

/// A finished job: its tenant, and whether its outcome was recorded.
type Ran = (Option<Uuid>, Result<(), AppError>);

/// Runs one claimed job to its end: renews its lease meanwhile, turns a panic into a failure, records the outcome.
async fn run_one<H: Handler>(
    runner: &H,
    worker: &Worker,
    queue: &str,
    db: &DatabaseConnection,
    job: job::Model,
    now: DateTime<Utc>,
) -> Ran {
    let tenant = job.tenant_id;
    let started = std::time::Instant::now();
    let run = unwound(&job.kind, async {
        let typed = Job::of(&job)?;
        // A platform job in a region's queue (or the reverse) was not written by this code: refuse it.
        if typed.is_platform() != (queue == CONTROL) {
            return Err(AppError::internal(anyhow::anyhow!(
                "job {} (`{}`) does not belong in the {queue} queue",
                job.id,
                job.kind
            )));
        }
        runner.handle(typed, &job, now).await
    });
    let renew = async {
        let every = (worker.lease / 3)
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(20))
            .max(std::time::Duration::from_secs(1));
        loop {
            tokio::time::sleep(every).await;
            let elapsed = Duration::from_std(started.elapsed()).unwrap_or_default();
            if let Err(e) = renew_lease(db, worker, &job, now + elapsed + worker.lease).await {
                tracing::warn!(job = %job.id, error = %e, "renewing a job's lease failed");
            }
        }
    };
    let result = tokio::select! {
        result = run => result,
        () = renew => unreachable!("the renewal loop never ends"),
    };
    if let Err(e) = &result {
        tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, error = %e, "job failed");
    }
    let settled = async {
        if settle(db, worker, &job, &result, now).await? {
            report_dead(runner.tenancy(), queue, &job).await?;
        }
        Ok::<(), DbErr>(())
    }
    .await
    .map_err(AppError::from);
    (tenant, settled)
}

/// A handler's panic as the job's failure (retried, then dead like any error), never the worker's end.
pub(super) async fn unwound<F>(kind: &str, handler: F) -> Result<Outcome, AppError>
where
    F: std::future::Future<Output = Result<Outcome, AppError>>,
{
    use futures_util::FutureExt as _;
    std::panic::AssertUnwindSafe(handler)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            Err(AppError::internal(anyhow::anyhow!(
                "the `{kind}` job's handler panicked"
            )))
        })
}

/// Extends a running job's lease (only while this worker still holds it).
async fn renew_lease(
    db: &DatabaseConnection,
    worker: &Worker,
    job: &job::Model,
    until: DateTime<Utc>,
) -> Result<(), DbErr> {
    job::Entity::update_many()
        .col_expr(job::Column::LockedUntil, Some(until).into())
        .filter(job::Column::Id.eq(job.id))
        .filter(job::Column::State.eq(JobState::Running))
        .filter(job::Column::LockedBy.eq(worker.id.clone()))
        .exec(db)
        .await?;
    Ok(())
}

async fn report_dead(tenancy: &Tenancy, queue: &str, job: &job::Model) -> Result<(), DbErr> {
    tracing::error!(job = %job.id, kind = %job.kind, queue, "job is dead after its last attempt");
    staff_notice::ActiveModel {
        id: Set(Uuid::now_v7()),
        role: Set("privacy_officer".into()),
        kind: Set("job.dead".into()),
        tenant_id: Set(job.tenant_id),
        object_id: Set(Some(job.id.to_string())),
        title: Set(format!(
            "A `{}` job failed {} times and stopped",
            job.kind, job.attempts
        )),
        body: Set(format!(
            "Job {} in the {queue} queue is dead. Retry it with retryJob once the cause is fixed.",
            job.id
        )),
        created_at: Set(Utc::now()),
        acknowledged_by: Set(None),
        acknowledged_at: Set(None),
    }
    .insert(tenancy.system().control())
    .await?;
    Ok(())
}
