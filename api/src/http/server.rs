//! The running server: the accept loop, the job worker beside it, and a graceful stop.

use super::*;

/// The server, bound to its address and ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    job_interval: std::time::Duration,
    job_poll: std::time::Duration,
    job_lease: std::time::Duration,
    header_timeout: std::time::Duration,
    write_timeout: std::time::Duration,
    max_connections: usize,
    role_changes: crate::config::RoleChanges,
    shutdown_drain: std::time::Duration,
    shutdown_timeout: std::time::Duration,
}

impl Application {
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let state = AppState::build(config).await?;
        let router = router(state.clone(), config);
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e} (set STEWARD_LISTEN)",
                config.listen
            )
        })?;
        Ok(Application {
            listener,
            router,
            state,
            job_interval: config.job_interval,
            job_poll: config.job_poll,
            job_lease: config.job_lease,
            header_timeout: config.limits.header_timeout,
            write_timeout: config.limits.write_timeout,
            max_connections: config.limits.max_connections,
            role_changes: config.role_changes,
            shutdown_drain: config.shutdown_drain,
            shutdown_timeout: config.shutdown_timeout,
        })
    }

    /// The bound port (useful when configured with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// The router, to drive requests in-process.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM, then stops in order: `/readyz` fails at once and the job worker claims
    /// nothing more; requests keep being served for the drain time (load balancers see the readiness change); then
    /// the listener closes, and the requests in flight and the running jobs get the shutdown timeout to finish. A job
    /// still running then is handed back to the queue (its lease ends now), for another instance to run.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let runner = self.state.job_runner();
        let worker = crate::jobs::Worker::new(self.job_lease);
        tracing::info!(worker = %worker.id, "job worker started");
        let mut jobs = tokio::spawn(run_jobs(
            runner,
            worker.clone(),
            self.job_interval,
            self.job_poll,
        ));
        let tenancy = self.state.inner.tenancy.clone();
        let notified = self.role_changes == crate::config::RoleChanges::Notify;
        let listener = tokio::spawn(async move {
            if notified {
                tenancy.listen_for_changes().await;
            }
        });
        let limiter_state = self.state.clone();
        let sweeper = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                ticks.tick().await;
                for limiter in [
                    &limiter_state.inner.rate_limiter,
                    &limiter_state.inner.public_limiter,
                ]
                .into_iter()
                .flatten()
                {
                    limiter.forget_idle();
                }
            }
        });
        let (state, drain, stopping) = (self.state.clone(), self.shutdown_drain, worker.clone());
        let closed_at = Arc::new(std::sync::OnceLock::new());
        let closing = closed_at.clone();
        let drained = async move {
            shutdown_signal().await;
            state
                .inner
                .draining
                .store(true, std::sync::atomic::Ordering::SeqCst);
            stopping.stop();
            tracing::info!(
                drain_secs = drain.as_secs(),
                "stopping: /readyz fails, no new job is claimed; still serving while load balancers notice"
            );
            tokio::time::sleep(drain).await;
            let _ = closing.set(std::time::Instant::now());
            tracing::info!(
                "stopping: the listener closes; requests in flight and running jobs finish"
            );
        };
        let limits = crate::http::edge::ConnectionLimits {
            header_timeout: self.header_timeout,
            write_timeout: self.write_timeout,
            max_connections: self.max_connections,
            finish_within: self.shutdown_timeout,
        };
        let served = crate::http::edge::serve(
            self.listener,
            self.router,
            limits,
            drained,
            self.state.tenancy().metrics().clone(),
        )
        .await;
        sweeper.abort();
        listener.abort();
        // The worker stopped claiming when the signal came; what it runs gets what is left of the timeout.
        let since_closed = closed_at.get().map(|at| at.elapsed()).unwrap_or_default();
        let left = self.shutdown_timeout.saturating_sub(since_closed);
        worker.stop();
        match tokio::time::timeout(left, &mut jobs).await {
            Ok(_) => tracing::info!("the job worker finished its jobs"),
            Err(_) => {
                jobs.abort();
                // Wait until the aborted task is gone (its transactions dropped, so rolled back) before handing its
                // jobs back: another instance must not claim a job this one is still finishing.
                let _ = (&mut jobs).await;
                match crate::worker::release(self.state.tenancy(), &worker).await {
                    Ok(n) => tracing::warn!(
                        released = n,
                        "jobs still running at the shutdown timeout were handed back"
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, "jobs could not be handed back; their leases lapse instead")
                    }
                }
            }
        }
        self.state.close().await;
        served?;
        Ok(())
    }
}

/// The job worker: every `poll`, enqueues the recurring sweeps of the current `interval` (each runs once per
/// interval across every instance) and runs every due job of every queue.
pub(super) async fn run_jobs(
    runner: crate::worker::Dispatcher,
    worker: crate::jobs::Worker,
    interval: std::time::Duration,
    poll: std::time::Duration,
) {
    // Audit events a previous process owed when it stopped are appended before anything else (the sweep would
    // reach them only in the next interval).
    match crate::owed::apply_all(crate::jobs::Handler::tenancy(&runner)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(appended = n, "deferred audit events appended at start"),
        Err(e) => tracing::warn!(error = ?e, "deferred audit events wait for the sweep"),
    }
    let mut ticks = tokio::time::interval(poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if worker.is_stopping() {
            return;
        }
        let now = chrono::Utc::now();
        if let Err(e) =
            crate::jobs::schedule_sweeps(crate::jobs::Handler::tenancy(&runner), now, interval)
                .await
        {
            tracing::error!(error = ?e, "scheduling the recurring jobs failed");
        }
        match crate::jobs::run_due(&runner, &worker, now).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(ran = n, "jobs ran"),
            Err(e) => tracing::error!(error = ?e, "the job queue could not be read"),
        }
    }
}

pub(super) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
