//! The HTTP edge: what stands between the network and the GraphQL schema.
//!
//! - [`serve`]: the accept loop, through hyper-util with a timer so that a client trickling its request headers is
//!   cut off after the header timeout (axum's own `serve` sets no timer, so slow-header connections would stay open).
//! - [`check_document`]: refuses documents with too many aliases (depth, complexity and directive limits are
//!   async-graphql's own); [`operation_label`] names the operation for metrics.
//! - [`DocumentCache`]: documents parsed and checked once per distinct query text, not once per request.
//! - [`RateLimiter`]: a token bucket per tenant (per staff member for staff), answered with 429 and `Retry-After`.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_graphql::ServerError;
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use axum::Router;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// Checks the parsed document against the limits async-graphql does not enforce itself (aliases; depth,
/// complexity and directives are its own) and names the operation for metrics. Runs on the document the request
/// parsed once (`Request::parsed_query`), which execution then reuses.
pub fn check_document(
    document: &ExecutableDocument,
    max_aliases: usize,
) -> Result<(), ServerError> {
    let aliases = count_aliases(document);
    if aliases > max_aliases {
        return Err(ServerError::new(
            format!(
                "the document uses {aliases} aliases; at most {max_aliases} are accepted (STEWARD_MAX_QUERY_ALIASES)"
            ),
            None,
        ));
    }
    Ok(())
}

/// Documents that passed [`check_document`], by query text. Parsing is a twentieth of a hot read's server time
/// (async-graphql's pest parser) and clients send the same few documents again and again, with only variables
/// changing; a hit clones the stored document instead. Refused documents are never stored. Bounded by the total
/// length of the stored texts (a document's parsed size follows its text), and documents longer than
/// [`DocumentCache::MAX_TEXT`] are parsed every time, so a client sending ever-new text only evicts entries. Kept per
/// tenant (per staff member for staff), like persisted queries: a hit answers faster than a miss, and a shared cache
/// would let one tenant time whether another sent a guessed text, literals included.
pub struct DocumentCache {
    /// By (partition, query text).
    documents: quick_cache::sync::Cache<(String, String), Arc<Checked>, TextLength>,
    metrics: Arc<Metrics>,
}

struct Checked {
    document: ExecutableDocument,
    label: String,
    /// Every operation only asks the schema about itself (`__schema`, `__type`, `__typename` at the root).
    introspection: bool,
    /// Passed async-graphql's full validation when sent on its own (no variables, no operation name): the text alone
    /// decided that, against a schema that does not change while the process runs.
    valid: AtomicBool,
}

/// A request's document as [`DocumentCache::prepare`] left it: the operation's metrics label, and whether full
/// validation can be skipped for it.
///
/// async-graphql validates every request from scratch (the spec's rules, a tenth of a small query's server time). A
/// document without variables that passed them once passes them again, so such a request runs on a schema in
/// [`async_graphql::ValidationMode::Fast`], which still computes depth and complexity against the same limits and
/// skips only the rules. Variables (whose values the rules check) or an operation name always mean full validation.
pub struct Prepared {
    pub label: String,
    checked: Option<Arc<Checked>>,
    /// The document when it was too long to keep in the cache.
    uncached: Option<ExecutableDocument>,
    standalone: bool,
    introspection: bool,
}

impl Prepared {
    /// The document only introspects the schema (what GraphiQL sends to load its Docs explorer): no resolver of ours
    /// runs, so it is held to the introspection limits rather than the data queries' depth.
    pub fn introspection_only(&self) -> bool {
        self.introspection
    }

    /// The parsed document the request runs.
    pub fn document(&self) -> Option<&ExecutableDocument> {
        self.checked
            .as_ref()
            .map(|c| &c.document)
            .or(self.uncached.as_ref())
    }

    /// The document passed full validation before, on its own, and this request is on its own too.
    pub fn known_valid(&self) -> bool {
        self.standalone
            && self
                .checked
                .as_ref()
                .is_some_and(|c| c.valid.load(Ordering::Relaxed))
    }

    /// Records that this request passed full validation (call only when it ran without any error).
    pub fn passed_validation(&self) {
        if let (true, Some(checked)) = (self.standalone, &self.checked) {
            checked.valid.store(true, Ordering::Relaxed);
        }
    }
}

#[derive(Clone)]
struct TextLength;

impl quick_cache::Weighter<(String, String), Arc<Checked>> for TextLength {
    fn weight(&self, (partition, text): &(String, String), _: &Arc<Checked>) -> u64 {
        (partition.len() + text.len()) as u64
    }
}

/// A cache key borrowed from the request, hashed and compared as the owned `(String, String)` is.
#[derive(Hash)]
struct DocumentKey<'a>(&'a str, &'a str);

impl quick_cache::Equivalent<(String, String)> for DocumentKey<'_> {
    fn equivalent(&self, (partition, text): &(String, String)) -> bool {
        self.0 == partition && self.1 == text
    }
}

impl DocumentCache {
    /// Longest query text kept.
    pub const MAX_TEXT: usize = 16 * 1024;

    /// A cache holding documents whose texts add up to at most `text_bytes`.
    pub fn new(text_bytes: u64, metrics: Arc<Metrics>) -> Self {
        DocumentCache {
            metrics,
            documents: quick_cache::sync::Cache::with_weighter(
                (text_bytes / 512).max(16) as usize,
                text_bytes.max(1),
                TextLength,
            ),
        }
    }

    /// Gives the request its parsed document (from the cache, or parsed and checked now); the error is the parse or
    /// limit error to answer with.
    pub fn prepare(
        &self,
        partition: &str,
        request: &mut async_graphql::Request,
        max_aliases: usize,
    ) -> Result<Prepared, ServerError> {
        let standalone = request.variables.is_empty() && request.operation_name.is_none();
        if let Some(hit) = self
            .documents
            .get(&DocumentKey(partition, request.query.as_str()))
        {
            self.metrics.document_cache(true);
            request.set_parsed_query(hit.document.clone());
            return Ok(Prepared {
                label: hit.label.clone(),
                introspection: hit.introspection,
                checked: Some(hit),
                uncached: None,
                standalone,
            });
        }
        self.metrics.document_cache(false);
        let text = (request.query.len() <= Self::MAX_TEXT).then(|| request.query.clone());
        let document = request.parsed_query()?;
        check_document(document, max_aliases)?;
        let label = operation_label(document);
        let introspection = introspection_only(document);
        let uncached = text.is_none().then(|| document.clone());
        let checked = text.map(|text| {
            let checked = Arc::new(Checked {
                document: document.clone(),
                label: label.clone(),
                introspection,
                valid: AtomicBool::new(false),
            });
            self.documents
                .insert((partition.to_owned(), text), checked.clone());
            checked
        });
        Ok(Prepared {
            label,
            checked,
            uncached,
            standalone,
            introspection,
        })
    }

    /// Documents held now.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }
}

/// Does every operation of the document only query the schema itself? Root fields must be `__schema`, `__type` or
/// `__typename` (fragments at the root count as not, to keep the test simple), and the operation a query.
pub fn introspection_only(document: &ExecutableDocument) -> bool {
    use async_graphql::parser::types::OperationType;
    let mut operations = document.operations.iter().peekable();
    operations.peek().is_some()
        && operations.all(|(_, op)| {
            op.node.ty == OperationType::Query
                && !op.node.selection_set.node.items.is_empty()
                && op.node.selection_set.node.items.iter().all(|item| {
                    matches!(&item.node, Selection::Field(field)
                        if matches!(field.node.name.node.as_str(), "__schema" | "__type" | "__typename"))
                })
        })
}

/// Aliases in every operation and fragment of the document.
pub fn count_aliases(document: &ExecutableDocument) -> usize {
    fn in_set(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => {
                    usize::from(field.node.alias.is_some()) + in_set(&field.node.selection_set.node)
                }
                Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    document
        .operations
        .iter()
        .map(|(_, op)| in_set(&op.node.selection_set.node))
        .chain(
            document
                .fragments
                .values()
                .map(|f| in_set(&f.node.selection_set.node)),
        )
        .sum()
}

/// The metrics label of an operation: its type and root field (`query dataSubjects`), `multiple` for several root
/// fields or operations. Names come from the document but only schema names pass validation, and the label is
/// recorded after parsing only, so an unknown name is folded into `invalid` by the caller when validation fails.
pub fn operation_label(document: &ExecutableDocument) -> String {
    let mut operations = document.operations.iter();
    let (Some((_, op)), None) = (operations.next(), operations.next()) else {
        return "multiple".into();
    };
    let ty = match op.node.ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    let items = &op.node.selection_set.node.items;
    let root = match items.as_slice() {
        [only] => match &only.node {
            Selection::Field(field) if field.node.name.node.starts_with("__") => "introspection",
            Selection::Field(field) => field.node.name.node.as_str(),
            _ => "fragment",
        },
        _ => "multiple",
    };
    format!("{ty} {root}")
}

/// A token bucket per key (tenant, or staff member), shared by every request of this instance.
pub struct RateLimiter {
    buckets: DefaultKeyedRateLimiter<String>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RateLimiter")
    }
}

impl RateLimiter {
    /// `per_second` requests on average with bursts up to `burst`; `None` when `per_second` is 0 (no limit).
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
        Some(RateLimiter {
            buckets: governor::RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        })
    }

    /// `Err(wait)` when `key` has used its allowance: the time until its next request would be admitted.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        match self.buckets.check_key(&key.to_owned()) {
            Ok(()) => Ok(()),
            Err(not_until) => Err(not_until.wait_time_from(DefaultClock::default().now())),
        }
    }

    /// Drops buckets that are full again, so keys seen once do not stay in memory.
    pub fn forget_idle(&self) {
        self.buckets.retain_recent();
        self.buckets.shrink_to_fit();
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the requests in flight finish (up to 30 s).
/// A connection must send its first bytes within `header_timeout` of being accepted, and a request's headers within
/// `header_timeout` of starting them (or of its previous response), or it is closed — so silent sockets cost nothing
/// for long. At most `max_connections` are open at once: beyond that, new ones wait in the listen backlog until one
/// closes. Each request carries the peer's address ([`axum::extract::ConnectInfo`]).
/// How [`serve`] treats connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// A connection silent (or slow) for this long before its request's headers are in is closed.
    pub header_timeout: Duration,
    /// A response the client stops reading for this long is dropped with its connection.
    pub write_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Once shutdown began, how long the requests in flight get to finish.
    pub finish_within: Duration,
}

pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let ConnectionLimits {
        header_timeout,
        write_timeout,
        max_connections,
        finish_within,
    } = limits;
    // HTTP/1 only: hyper's HTTP/2 has no header-read or idle timeout, so a connection that sent the HTTP/2 preface
    // and nothing more held its slot for ever (4,096 of them took the server down). HTTP/2 belongs on a proxy in
    // front, which speaks HTTP/1.1 to the server.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let router = router.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _permit = permit;
            // Silent from the start: closed when the header timeout passes (hyper's own timer starts only with the
            // first byte).
            let mut first = [0u8; 1];
            if !matches!(
                tokio::time::timeout(header_timeout, stream.peek(&mut first)).await,
                Ok(Ok(1..))
            ) {
                metrics.connection_closed_silent();
                return;
            }
            let service = TowerToHyperService::new(
                tower::ServiceBuilder::new()
                    .layer(tower_http::add_extension::AddExtensionLayer::new(
                        axum::extract::ConnectInfo(peer),
                    ))
                    .service(router),
            );
            let connection = builder
                // Not `serve_connection_with_upgrades`, which ignores `http1_only` (and nothing here upgrades).
                .serve_connection(
                    TokioIo::new(WriteDeadline::new(stream, write_timeout, metrics)),
                    service,
                )
                .into_owned();
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(finish_within, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            seconds = finish_within.as_secs(),
            "requests still running when the shutdown timeout passed were cut off"
        );
    }
    Ok(())
}

/// A connection whose peer stops reading: a write (or flush) that cannot make progress for `timeout` fails, so hyper
/// closes the connection and drops the response it was holding. Each write that progresses starts the clock again.
struct WriteDeadline<S> {
    inner: S,
    timeout: Duration,
    metrics: Arc<Metrics>,
    stalled: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteDeadline<S> {
    fn new(inner: S, timeout: Duration, metrics: Arc<Metrics>) -> Self {
        WriteDeadline {
            inner,
            timeout,
            metrics,
            stalled: None,
        }
    }

    fn progress<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        polled: std::task::Poll<std::io::Result<T>>,
    ) -> std::task::Poll<std::io::Result<T>> {
        use std::task::Poll;
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let timeout = self.timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.metrics.connection_closed_stalled();
                Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the client stopped reading the response",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progress(cx, polled)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progress(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_flush(cx);
        self.progress(cx, polled)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_limits_per_key() {
        let limiter = RateLimiter::new(1, 3).unwrap();
        for _ in 0..3 {
            assert!(limiter.check("a").is_ok());
        }
        let wait = limiter.check("a").unwrap_err();
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiter.check("b").is_ok(), "another key has its own bucket");
        assert!(RateLimiter::new(0, 10).is_none(), "0 turns the limit off");
    }

    #[test]
    fn counts_aliases_in_operations_and_fragments() {
        let doc = async_graphql::parser::parse_query(
            "query { a: x { b: y } ...F } fragment F on Q { c: z { w } }",
        )
        .unwrap();
        assert_eq!(count_aliases(&doc), 3);
        assert!(check_document(&doc, 3).is_ok());
        assert!(check_document(&doc, 2).is_err());
        assert_eq!(operation_label(&doc), "query multiple");
        let one = async_graphql::parser::parse_query("mutation M { createTenant { id } }").unwrap();
        assert_eq!(operation_label(&one), "mutation createTenant");
    }

    #[test]
    fn validation_is_skipped_only_for_a_document_that_passed_it_on_its_own() {
        let cache = DocumentCache::new(1024 * 1024, Arc::default());
        let text = "query Q { x }";
        let first = cache
            .prepare("t", &mut async_graphql::Request::new(text), 5)
            .unwrap();
        assert!(!first.known_valid(), "never validated yet");
        // Passing with variables or an operation name says nothing about the text alone.
        let with_variables = || {
            async_graphql::Request::new(text).variables(async_graphql::Variables::from_json(
                serde_json::json!({ "n": 1 }),
            ))
        };
        cache
            .prepare("t", &mut with_variables(), 5)
            .unwrap()
            .passed_validation();
        cache
            .prepare(
                "t",
                &mut async_graphql::Request::new(text).operation_name("Q"),
                5,
            )
            .unwrap()
            .passed_validation();
        let again = cache
            .prepare("t", &mut async_graphql::Request::new(text), 5)
            .unwrap();
        assert!(!again.known_valid());
        again.passed_validation();
        let known = cache
            .prepare("t", &mut async_graphql::Request::new(text), 5)
            .unwrap();
        assert!(known.known_valid());
        // The same text with variables or an operation name is validated in full again.
        assert!(
            !cache
                .prepare("t", &mut with_variables(), 5)
                .unwrap()
                .known_valid()
        );
        assert!(
            !cache
                .prepare(
                    "t",
                    &mut async_graphql::Request::new(text).operation_name("Q"),
                    5
                )
                .unwrap()
                .known_valid()
        );
        // Another text is not.
        assert!(
            !cache
                .prepare("t", &mut async_graphql::Request::new("query Q { x y }"), 5)
                .unwrap()
                .known_valid()
        );
    }

    #[test]
    fn document_cache_is_kept_per_partition() {
        let cache = DocumentCache::new(1024 * 1024, Arc::default());
        let text = "query { a: x }";
        let hit = |partition: &str| {
            cache
                .prepare(partition, &mut async_graphql::Request::new(text), 5)
                .unwrap()
                .checked
                .is_some_and(|c| c.valid.load(Ordering::Relaxed))
        };
        assert!(!hit("tenant-a"));
        cache
            .prepare("tenant-a", &mut async_graphql::Request::new(text), 5)
            .unwrap()
            .passed_validation();
        assert!(hit("tenant-a"), "the same tenant's text again");
        // Another tenant's first request with that text is parsed and checked as new: nothing it can time.
        assert!(!hit("tenant-b"));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn document_cache_keeps_checked_documents_by_text() {
        let cache = DocumentCache::new(1024 * 1024, Arc::default());
        let mut first = async_graphql::Request::new("query { a: x }");
        assert_eq!(cache.prepare("t", &mut first, 5).unwrap().label, "query x");
        assert_eq!(cache.len(), 1);
        // A hit hands the stored document to the request: it names its own field, not another document's.
        let mut again = async_graphql::Request::new("query { a: x }");
        assert_eq!(cache.prepare("t", &mut again, 5).unwrap().label, "query x");
        let field = match &again
            .parsed_query()
            .unwrap()
            .operations
            .iter()
            .next()
            .unwrap()
            .1
            .node
            .selection_set
            .node
            .items[0]
            .node
        {
            Selection::Field(f) => f.node.name.node.to_string(),
            _ => unreachable!(),
        };
        assert_eq!(field, "x");
        let mut other = async_graphql::Request::new("mutation { y }");
        assert_eq!(
            cache.prepare("t", &mut other, 5).unwrap().label,
            "mutation y"
        );
        assert_eq!(cache.len(), 2);
        // Refused documents (too many aliases, syntax errors) are refused every time and never stored.
        for _ in 0..2 {
            let mut over = async_graphql::Request::new("{ a: x b: y }");
            assert!(cache.prepare("t", &mut over, 1).is_err());
            let mut broken = async_graphql::Request::new("{ x ");
            assert!(cache.prepare("t", &mut broken, 5).is_err());
        }
        assert_eq!(cache.len(), 2);
        // Over-long texts are parsed every time, not stored.
        let long = format!("{{ x {} }}", "y ".repeat(DocumentCache::MAX_TEXT));
        let mut long = async_graphql::Request::new(long);
        assert_eq!(
            cache.prepare("t", &mut long, 5).unwrap().label,
            "query multiple"
        );
        assert_eq!(cache.len(), 2);
    }
}
