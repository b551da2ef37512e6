//! Tenants: `tenants`, `tenant(id:)`, `createTenant`, `suspendTenant`, `reactivateTenant`.

use async_graphql::{Context, ID, InputObject, Object};
use steward_policy::Permission;

use super::types::{Conn, Tenant, TenantStatusGql, connection, parse_tenant_id};
use super::{principal, tenancy};
use crate::pagination::Page;
use crate::tenants;

#[derive(Default)]
pub struct TenantQuery;

#[Object]
impl TenantQuery {
    /// Every tenant, oldest first (staff with `tenant:read`).
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn tenants(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1-100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        status: Option<TenantStatusGql>,
    ) -> async_graphql::Result<Conn<Tenant>> {
        let page = Page::new(first, after.as_deref())?;
        let found =
            tenants::list(tenancy(ctx)?, principal(ctx)?, page, status.map(Into::into)).await?;
        Ok(connection(found, |t| t.id.to_string(), Tenant))
    }

    /// One tenant. Clients may omit `id` (their own tenant); another tenant's id is `NOT_FOUND`.
    async fn tenant(&self, ctx: &Context<'_>, id: Option<ID>) -> async_graphql::Result<Tenant> {
        let id = id
            .as_ref()
            .map(|id| parse_tenant_id("id", id))
            .transpose()?;
        let scope = tenancy(ctx)?
            .scope(principal(ctx)?, id, Permission::TenantRead)
            .await?;
        Ok(Tenant(scope.tenant().clone()))
    }
}

#[derive(InputObject)]
pub struct CreateTenantInput {
    /// The client's name, unique regardless of case and spacing.
    pub name: String,
    /// One of `regions`; the tenant's personal data will live only there.
    pub region: String,
}

#[derive(Default)]
pub struct TenantMutation;

#[Object]
impl TenantMutation {
    /// Creates a tenant (platform admins).
    async fn create_tenant(
        &self,
        ctx: &Context<'_>,
        input: CreateTenantInput,
    ) -> async_graphql::Result<Tenant> {
        let created =
            tenants::create(tenancy(ctx)?, principal(ctx)?, &input.name, &input.region).await?;
        Ok(Tenant(created))
    }

    /// Suspends an active tenant: its users lose access at their next request; its data is kept (platform admins).
    async fn suspend_tenant(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<Tenant> {
        let id = parse_tenant_id("id", &id)?;
        let tenancy = tenancy(ctx)?;
        let scope = tenancy
            .scope(principal(ctx)?, Some(id), Permission::TenantLifecycle)
            .await?;
        Ok(Tenant(tenants::suspend(tenancy, &scope, &reason).await?))
    }

    /// Reactivates a suspended tenant (platform admins).
    async fn reactivate_tenant(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Tenant> {
        let id = parse_tenant_id("id", &id)?;
        let tenancy = tenancy(ctx)?;
        let scope = tenancy
            .scope(principal(ctx)?, Some(id), Permission::TenantLifecycle)
            .await?;
        Ok(Tenant(tenants::reactivate(tenancy, &scope).await?))
    }
}
