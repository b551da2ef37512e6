//! Logs and traces. Logs go to stderr (text or JSON, `STEWARD_LOG`); with `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are
//! exported too, over OTLP/HTTP with JSON bodies (`<endpoint>/v1/traces`), batched in the background:
//!
//! - `request`: one per HTTP request, with `request_id` (Steward's own, as returned in `x-request-id`), the caller's
//!   `client_request_id`, method and path (never the query string);
//! - `resolve`: one per GraphQL field resolved, with its path in the response and its parent type;
//! - `statement`: one per SQL statement, with the database, the verb and its duration, recorded as it completes;
//! - `job`: one per queued job run, with its kind and id.
//!
//! No span carries a personal value, the GraphQL document, its variables or the SQL text: the spans are built from
//! these fields only, and async-graphql's own tracing extension (which records the document) is never installed.
//! `OTEL_SERVICE_NAME` names the service (default `steward`); `STEWARD_TRACE` filters what is exported (default
//! `steward=debug,steward::sql=off,tower_http=info`: the slow-statement warning, which names the SQL text in
//! the local log, is not exported).

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Keeps the trace exporter alive; [`Telemetry::shutdown`] flushes what is batched.
pub struct Telemetry {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

/// Log output on stderr.
#[derive(Clone, Copy, Debug)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber: logs to stderr, and trace export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. Call
/// before the async runtime starts (the exporter's HTTP client is a blocking one, run on the batch thread).
pub fn init(format: LogFormat) -> Telemetry {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STEWARD_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn")
    });
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
    }
    .with_filter(filter);
    let (provider, traces) = match exporter() {
        Ok(Some(provider)) => {
            let filter = tracing_subscriber::EnvFilter::try_from_env("STEWARD_TRACE")
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new(
                        "steward=debug,steward::sql=off,tower_http=info",
                    )
                });
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("steward"))
                .with_filter(filter);
            (Some(provider), Some(layer))
        }
        Ok(None) => (None, None),
        Err(e) => {
            eprintln!("warning: traces are not exported: {e}");
            (None, None)
        }
    };
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .init();
    if provider.is_some() {
        tracing::info!("exporting traces over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT)");
    }
    Telemetry { provider }
}

fn exporter() -> anyhow::Result<Option<opentelemetry_sdk::trace::SdkTracerProvider>> {
    use opentelemetry_otlp::{Protocol, WithExportConfig as _};
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .ok()
        .or_else(|| {
            std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
                .ok()
                .map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
        })
        .filter(|e| !e.trim().is_empty());
    let Some(endpoint) = endpoint else {
        return Ok(None);
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(endpoint)
        .with_timeout(std::time::Duration::from_secs(10))
        .build()?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "steward".into());
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service)
        .build();
    Ok(Some(
        opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    ))
}

impl Telemetry {
    /// Exports what is still batched and stops the exporter (at the end of the process).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: the last traces were not exported: {e}");
        }
    }
}
