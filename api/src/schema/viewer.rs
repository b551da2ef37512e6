//! `viewer`: who am I, of which kind, in which tenant, with which roles.

use async_graphql::{Context, Object};
use steward_policy::Permission;

use crate::auth::Principal;
use crate::graphql::types::{PrincipalKindGql, RoleGql};
use crate::graphql::{principal, tenancy};
use crate::tenants::graphql::Tenant;
use crate::users;

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The caller, as the server sees them.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        Ok(Viewer(principal(ctx)?.clone()))
    }

    /// The regions tenants can be placed in.
    async fn regions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        principal(ctx)?;
        Ok(tenancy(ctx)?.region_names().map(str::to_owned).collect())
    }

    /// Every reason a rule can refuse a well-formed request with (an error's `extensions.reason`, its `code` then
    /// `BAD_USER_INPUT`), each explained in the `RefusalReason` type; any signed-in caller may read it.
    async fn refusal_reasons(&self) -> Vec<crate::error::RefusalReason> {
        use async_graphql::resolver_utils::EnumType;
        crate::error::RefusalReason::items()
            .iter()
            .map(|item| item.value)
            .collect()
    }
}

pub struct Viewer(Principal);

#[Object]
impl Viewer {
    /// The `sub` of the caller's token.
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn kind(&self) -> PrincipalKindGql {
        self.0.kind.into()
    }
    /// Roles held where the caller stands: a client's in its tenant, staff roles on the platform. Read from the
    /// policy store on every request, never from the token.
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RoleGql>> {
        let roles = users::roles_of(tenancy(ctx)?, &self.0).await;
        Ok(roles.into_iter().map(Into::into).collect())
    }
    /// A change of control the client's tenant has not acknowledged yet: shown prominently until it is
    /// (`acknowledgeNotice`). Null for staff and when there is none.
    async fn banner(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<crate::privacy_policy::graphql::NoticeRecord>> {
        if self.0.tenant_id.is_none() {
            return Ok(None);
        }
        let scope = tenancy(ctx)?
            .scope(&self.0, None, Permission::TenantRead)
            .await?;
        Ok(crate::privacy_policy::banner(&scope).await?.map(Into::into))
    }
    /// A client's own tenant; null for staff, who name the tenant they act on with `tenant(id:)`.
    async fn tenant(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Tenant>> {
        if self.0.tenant_id.is_none() {
            return Ok(None);
        }
        let scope = tenancy(ctx)?
            .scope(&self.0, None, Permission::TenantRead)
            .await?;
        Ok(Some(Tenant(scope.tenant().clone())))
    }
}
