//! Access grants, the access-transparency log and notices: `requestAccessGrant`, `approveAccessGrant`,
//! `denyAccessGrant`, `breakGlassAccess`, `revokeAccessGrant`, `accessGrants`, `myAccessGrants`,
//! `accessTransparencyLog`, `notices`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use steward_entities::{access_grant, access_log, notice};
use steward_policy::Permission;
use uuid::Uuid;

use crate::error::AppError;
use crate::grants::{self, GrantRequest, GrantStatus};
use crate::graphql::types::{Conn, connection};
use crate::graphql::{open_scope, principal, tenancy};
use crate::ids::{GrantId, SubjectId};
use crate::pagination::{Page, PageOf};

/// Time-boxed permission for one staff member to read a tenant's personal values.
#[derive(SimpleObject)]
pub struct AccessGrant {
    pub id: ID,
    pub tenant_id: ID,
    /// The staff member's token `sub`.
    pub grantee: String,
    pub justification: String,
    pub ticket: String,
    pub duration_minutes: i32,
    /// The subjects it opens; null for all of the tenant's subjects.
    pub subject_ids: Option<Vec<ID>>,
    pub break_glass: bool,
    pub status: GrantStatus,
    pub requested_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl AccessGrant {
    fn from_model(m: access_grant::Model) -> Result<Self, AppError> {
        let subject_ids =
            grants::subjects_of(&m).map(|ids| ids.into_iter().map(|i| ID(i.to_string())).collect());
        Ok(AccessGrant {
            id: ID(m.id.to_string()),
            tenant_id: ID(grants::tenant_of(&m).to_string()),
            status: GrantStatus::of(&m, Utc::now()),
            grantee: m.grantee,
            justification: m.justification,
            ticket: m.ticket,
            duration_minutes: m.duration_minutes,
            subject_ids,
            break_glass: m.break_glass,
            requested_at: m.requested_at,
            decided_by: m.decided_by,
            decided_at: m.decided_at,
            decision_reason: m.decision_reason,
            expires_at: m.expires_at,
            revoked_by: m.revoked_by,
            revoked_at: m.revoked_at,
        })
    }
}

/// One read of personal values by our staff: who, when, which subjects and categories, under which grant.
#[derive(SimpleObject)]
pub struct AccessLogEntry {
    pub id: ID,
    pub occurred_at: DateTime<Utc>,
    pub staff_subject: String,
    pub grant_id: ID,
    pub justification: String,
    pub ticket: String,
    pub subject_ids: Vec<ID>,
    pub categories: Vec<String>,
    /// How many values were read.
    pub values_read: i32,
    /// The request, as in the `x-request-id` header.
    pub request_id: Option<String>,
}

impl AccessLogEntry {
    fn from_model(m: access_log::Model) -> Result<Self, AppError> {
        Ok(AccessLogEntry {
            id: ID(m.id.to_string()),
            occurred_at: m.occurred_at,
            staff_subject: m.staff_subject,
            grant_id: ID(m.grant_id.to_string()),
            justification: m.justification,
            ticket: m.ticket,
            subject_ids: m.subject_ids.0.iter().map(|i| ID(i.to_string())).collect(),
            categories: m.categories.0,
            values_read: m.values_read,
            request_id: m.request_id,
        })
    }
}

/// Something the client must be told.
#[derive(SimpleObject)]
pub struct Notice {
    pub id: ID,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub class: steward_entities::notice::NoticeClass,
    /// The client roles it is for.
    pub audience: Vec<String>,
}

impl From<notice::Model> for Notice {
    fn from(m: notice::Model) -> Self {
        Notice {
            id: ID(m.id.to_string()),
            kind: m.kind,
            title: m.title,
            body: m.body,
            created_at: m.created_at,
            acknowledged_at: m.acknowledged_at,
            acknowledged_by: m.acknowledged_by,
            class: m.channel_class,
            audience: m
                .audience
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

fn to_connection<T, N: async_graphql::OutputType>(
    page: PageOf<T>,
    id: impl Fn(&T) -> Uuid,
    node: impl Fn(T) -> Result<N, AppError>,
) -> Result<Conn<N>, AppError> {
    let rows = page
        .rows
        .into_iter()
        .map(|row| {
            let cursor = id(&row).to_string();
            node(row).map(|n| (cursor, n))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let page = PageOf {
        rows,
        has_next: page.has_next,
        has_previous: page.has_previous,
        total: page.total,
    };
    Ok(connection(
        page,
        |(cursor, _)| cursor.clone(),
        |(_, node)| node,
    ))
}

#[derive(Default)]
pub struct AccessQuery;

#[Object]
impl AccessQuery {
    /// A tenant's access grants, newest first (its `client_admin`; `platform_admin`, `privacy_officer`, `auditor`).
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn access_grants(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        status: Option<GrantStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AccessGrant>> {
        let page = Page::new(first, after.as_deref())?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::AccessGrantRead).await?;
        let found = grants::list(&scope, page, status).await?;
        Ok(to_connection(found, |g| g.id, AccessGrant::from_model)?)
    }

    /// The caller's own access grants across every tenant, newest first (staff).
    async fn my_access_grants(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AccessGrant>> {
        let found = grants::mine(tenancy(ctx)?, principal(ctx)?).await?;
        Ok(found
            .into_iter()
            .map(AccessGrant::from_model)
            .collect::<Result<_, _>>()?)
    }

    /// Every read of the tenant's personal values by our staff, newest first, optionally within [`from`, `to`).
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn access_transparency_log(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AccessLogEntry>> {
        let page = Page::new(first, after.as_deref())?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::AccessLogRead).await?;
        let found = crate::grants::access_log(&scope, page, from, to).await?;
        Ok(to_connection(found, |e| e.id, AccessLogEntry::from_model)?)
    }

    /// The tenant's notices (e.g. access requested, break-glass access), newest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn notices(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Notice>> {
        let page = Page::new(first, after.as_deref())?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::TenantRead).await?;
        let found = crate::notices::notices(&scope, page).await?;
        Ok(to_connection(found, |n| n.id, |n| Ok(Notice::from(n)))?)
    }
}

#[derive(InputObject)]
pub struct AccessGrantInput {
    pub tenant_id: ID,
    /// Why the access is needed (10-2000 characters); shown to the client.
    pub justification: String,
    /// The support or incident ticket it serves.
    pub ticket: String,
    /// At most 480 (60 for break-glass).
    pub duration_minutes: i32,
    /// Only these subjects; leave out for all of the tenant's subjects.
    pub subject_ids: Option<Vec<ID>>,
}

impl AccessGrantInput {
    fn into_request(self) -> Result<(ID, GrantRequest), AppError> {
        let subject_ids = self
            .subject_ids
            .map(|ids| {
                ids.iter()
                    .map(|id| SubjectId::parse("subjectIds", id))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok((
            self.tenant_id,
            GrantRequest {
                justification: self.justification,
                ticket: self.ticket,
                duration_minutes: self.duration_minutes,
                subject_ids,
            },
        ))
    }
}

#[derive(Default)]
pub struct AccessMutation;

#[Object]
impl AccessMutation {
    /// Asks a tenant for time-boxed access to its personal values (`support`, `privacy_officer`).
    async fn request_access_grant(
        &self,
        ctx: &Context<'_>,
        input: AccessGrantInput,
    ) -> async_graphql::Result<AccessGrant> {
        let (tenant_id, request) = input.into_request()?;
        let scope = open_scope(ctx, Some(&tenant_id), Permission::AccessGrantRequest).await?;
        Ok(AccessGrant::from_model(
            grants::request(&scope, request).await?,
        )?)
    }

    /// Emergency access, effective at once for at most 60 minutes; the tenant is notified (`privacy_officer`).
    async fn break_glass_access(
        &self,
        ctx: &Context<'_>,
        input: AccessGrantInput,
    ) -> async_graphql::Result<AccessGrant> {
        let (tenant_id, request) = input.into_request()?;
        let scope = open_scope(ctx, Some(&tenant_id), Permission::AccessGrantBreakGlass).await?;
        Ok(AccessGrant::from_model(
            grants::break_glass(&scope, request).await?,
        )?)
    }

    /// Approves a pending grant; it runs from now for its duration (the tenant's `client_admin`).
    async fn approve_access_grant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<AccessGrant> {
        let id = GrantId::parse("id", &id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::AccessGrantApprove).await?;
        Ok(AccessGrant::from_model(grants::approve(&scope, id).await?)?)
    }

    /// Denies a pending grant, with a reason (the tenant's `client_admin`).
    async fn deny_access_grant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<AccessGrant> {
        let id = GrantId::parse("id", &id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::AccessGrantApprove).await?;
        Ok(AccessGrant::from_model(
            grants::deny(&scope, id, &reason).await?,
        )?)
    }

    /// Ends a pending or running grant at once (the tenant's `client_admin`, or a `platform_admin`).
    async fn revoke_access_grant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tenant_id: Option<ID>,
        reason: Option<String>,
    ) -> async_graphql::Result<AccessGrant> {
        let id = GrantId::parse("id", &id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::AccessGrantRevoke).await?;
        Ok(AccessGrant::from_model(
            grants::revoke(&scope, id, reason.as_deref()).await?,
        )?)
    }
}
