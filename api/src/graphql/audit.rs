//! The audit chains: `auditEvents`, `platformAuditEvents`, `auditChainHead`, `verifyAuditChain`,
//! `verifyPlatformAuditChain`.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use steward_entities::{audit_event, platform_audit_event};
use steward_policy::Permission;

use super::types::{PageInfoExtra, parse_tenant_id};
use super::{principal, tenancy};
use crate::audit::{self, ChainLink, Verification};
use crate::error::AppError;
use crate::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// One event of an audit chain. `detail` is JSON without personal values; people are named by id.
#[derive(SimpleObject)]
pub struct AuditEvent {
    pub seq: i64,
    pub id: ID,
    /// As hashed: RFC 3339, UTC, microseconds.
    pub occurred_at: String,
    pub actor_kind: String,
    pub actor_subject: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<ChainLink> for AuditEvent {
    fn from(l: ChainLink) -> Self {
        AuditEvent {
            seq: l.seq,
            id: ID(l.id.to_string()),
            occurred_at: l.occurred_at,
            actor_kind: l.actor_kind,
            actor_subject: l.actor_subject,
            action: l.action,
            object_type: l.object_type,
            object_id: l.object_id,
            detail: l.detail,
            prev_hash: l.prev_hash,
            hash: l.hash,
        }
    }
}

/// The result of recomputing a chain.
#[derive(SimpleObject)]
pub struct ChainVerification {
    pub valid: bool,
    /// Events checked.
    pub events: u64,
    pub head_seq: Option<i64>,
    pub head_hash: Option<String>,
    /// The first broken sequence number, when the chain does not hold.
    pub broken_at: Option<i64>,
    pub reason: Option<String>,
}

impl From<Verification> for ChainVerification {
    fn from(v: Verification) -> Self {
        ChainVerification {
            valid: v.broken.is_none(),
            events: v.events,
            head_seq: v.head.as_ref().map(|h| h.0),
            head_hash: v.head.map(|h| h.1),
            broken_at: v.broken.map(|b| b.0),
            reason: v.broken.map(|b| b.1.to_owned()),
        }
    }
}

/// Page arguments of a chain: cursors are sequence numbers.
/// Set once per request: a chain verification walks a whole chain, so one request runs at most one.
#[derive(Default)]
pub struct VerificationSlot(std::sync::atomic::AtomicBool);

fn claim_verification(ctx: &Context<'_>) -> Result<(), AppError> {
    let taken = ctx
        .data_opt::<VerificationSlot>()
        .is_some_and(|slot| slot.0.swap(true, std::sync::atomic::Ordering::AcqRel));
    if taken {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::OneVerificationPerRequest,
            message: "a request verifies at most one audit chain; send one request per chain"
                .into(),
        });
    }
    Ok(())
}

fn chain_page(first: Option<i32>, after: Option<&str>) -> Result<(u64, i64), AppError> {
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&first) {
        return Err(AppError::BadInput(format!(
            "`first` must be between 1 and {MAX_PAGE_SIZE}, got {first}"
        )));
    }
    let after = after
        .map(|a| {
            a.parse::<i64>().map_err(|_| {
                AppError::BadInput("`after` is not a cursor returned by this API".into())
            })
        })
        .transpose()?
        .unwrap_or(0);
    Ok((first as u64, after))
}

fn to_connection(
    mut links: Vec<ChainLink>,
    limit: u64,
    after: i64,
    total: u64,
) -> Connection<String, AuditEvent, PageInfoExtra> {
    let has_next = links.len() as u64 > limit;
    links.truncate(limit as usize);
    let mut conn = Connection::with_additional_fields(
        after > 0,
        has_next,
        PageInfoExtra { total_count: total },
    );
    conn.edges.extend(
        links
            .into_iter()
            .map(|l| Edge::new(l.seq.to_string(), AuditEvent::from(l))),
    );
    conn
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// A tenant's audit chain in order (its `client_admin`, `privacy_officer`, `auditor`), optionally one action or
    /// a time window [`from`, `to`).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
        action: Option<String>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<Connection<String, AuditEvent, PageInfoExtra>> {
        let (limit, after) = chain_page(first, after.as_deref())?;
        let tenant_id = tenant_id
            .as_ref()
            .map(|id| parse_tenant_id("tenantId", id))
            .transpose()?;
        let scope = tenancy(ctx)?
            .scope(principal(ctx)?, tenant_id, Permission::AuditRead)
            .await?;
        let mut query = scope.find::<audit_event::Entity>();
        if let Some(action) = &action {
            query = query.filter(audit_event::Column::Action.eq(action.trim()));
        }
        if let Some(from) = from {
            query = query.filter(audit_event::Column::OccurredAt.gte(from));
        }
        if let Some(to) = to {
            query = query.filter(audit_event::Column::OccurredAt.lt(to));
        }
        let total = crate::pagination::count(query.clone(), scope.db())
            .await
            .map_err(AppError::from)?;
        let rows = query
            .filter(audit_event::Column::Seq.gt(after))
            .order_by_asc(audit_event::Column::Seq)
            .limit(limit + 1)
            .all(scope.db())
            .await
            .map_err(AppError::from)?;
        Ok(to_connection(
            rows.iter().map(ChainLink::from).collect(),
            limit,
            after,
            total,
        ))
    }

    /// The platform's audit chain in order (`auditor`).
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn platform_audit_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, AuditEvent, PageInfoExtra>> {
        let (limit, after) = chain_page(first, after.as_deref())?;
        let tenancy = tenancy(ctx)?;
        let platform = tenancy
            .require_platform(principal(ctx)?, Permission::AuditVerify)
            .await?;
        let db = platform.control();
        let total = crate::pagination::count(platform_audit_event::Entity::find(), db)
            .await
            .map_err(AppError::from)?;
        let rows = platform_audit_event::Entity::find()
            .filter(platform_audit_event::Column::Seq.gt(after))
            .order_by_asc(platform_audit_event::Column::Seq)
            .limit(limit + 1)
            .all(db)
            .await
            .map_err(AppError::from)?;
        Ok(to_connection(
            rows.iter().map(ChainLink::from).collect(),
            limit,
            after,
            total,
        ))
    }

    /// The last event of a tenant's chain. Keep its `seq` and `hash`: a later `verifyAuditChain(keptHead…)` then
    /// detects any truncation or rewrite before it.
    async fn audit_chain_head(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Option<AuditEvent>> {
        let tenant_id = tenant_id
            .as_ref()
            .map(|id| parse_tenant_id("tenantId", id))
            .transpose()?;
        let scope = tenancy(ctx)?
            .scope(principal(ctx)?, tenant_id, Permission::AuditRead)
            .await?;
        let head = audit::tenant_head(scope.db(), scope.tenant_id())
            .await
            .map_err(AppError::from)?;
        Ok(head.map(AuditEvent::from))
    }

    /// Recomputes a tenant's chain: valid, or the first broken sequence number and why. Give a head kept earlier
    /// (`keptSeq`, `keptHash`) to also detect truncation after it.
    #[graphql(complexity = 100)]
    async fn verify_audit_chain(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        kept_seq: Option<i64>,
        kept_hash: Option<String>,
    ) -> async_graphql::Result<ChainVerification> {
        claim_verification(ctx)?;
        let tenant_id = tenant_id
            .as_ref()
            .map(|id| parse_tenant_id("tenantId", id))
            .transpose()?;
        let scope = tenancy(ctx)?
            .scope(principal(ctx)?, tenant_id, Permission::AuditRead)
            .await?;
        let verification = audit::verify_tenant(scope.db(), scope.tenant_id())
            .await
            .map_err(AppError::from)?;
        let kept = match (kept_seq, kept_hash.as_deref()) {
            (Some(seq), Some(hash)) => Some((seq, hash)),
            (None, None) => None,
            _ => {
                return Err(AppError::BadInput(
                    "give both `keptSeq` and `keptHash`, or neither".into(),
                )
                .into());
            }
        };
        let link = match kept {
            Some((seq, _)) => audit::tenant_link(scope.db(), scope.tenant_id(), seq)
                .await
                .map_err(AppError::from)?,
            None => None,
        };
        Ok(verification.against_kept_head(kept, link.as_ref()).into())
    }

    /// Recomputes the platform's chain (`auditor`).
    #[graphql(complexity = 100)]
    async fn verify_platform_audit_chain(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<ChainVerification> {
        claim_verification(ctx)?;
        let tenancy = tenancy(ctx)?;
        let platform = tenancy
            .require_platform(principal(ctx)?, Permission::AuditVerify)
            .await?;
        Ok(audit::verify_platform(platform.control())
            .await
            .map_err(AppError::from)?
            .into())
    }
}
