//! Users and roles: `users`, `inviteUser`, `assignRole`, `revokeRole`.

use async_graphql::{Context, ID, InputObject, Object};
use steward_policy::Permission;

use super::types::{Conn, RoleAssignment, RoleGql, User, parse_tenant_id, users_page};
use super::{principal, tenancy};
use crate::pagination::Page;
use crate::users::{self, Invitation, RoleChange};

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// A tenant's users: a client's own (omit `tenantId`), or the named tenant's for staff.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<User>> {
        let tenant_id = tenant_id
            .as_ref()
            .map(|id| parse_tenant_id("tenantId", id))
            .transpose()?;
        let page = Page::new(first, after.as_deref())?;
        let tenancy = tenancy(ctx)?;
        let scope = tenancy
            .scope(principal(ctx)?, tenant_id, Permission::UserRead)
            .await?;
        Ok(users_page(tenancy, &scope, page).await?)
    }
}

#[derive(InputObject)]
pub struct InviteUserInput {
    /// The tenant to add the user to; clients may omit it (their own tenant).
    pub tenant_id: Option<ID>,
    pub email: String,
    /// `CLIENT_ADMIN` or `CLIENT_VIEWER`.
    pub role: RoleGql,
    /// The `sub` the user's identity provider puts in their tokens; defaults to the lower-cased email.
    pub subject: Option<String>,
    pub display_name: Option<String>,
}

#[derive(InputObject)]
pub struct RoleChangeInput {
    /// The token `sub` of the person.
    pub subject: String,
    pub role: RoleGql,
    /// For client roles: the tenant (clients may omit it). Must be absent for staff roles.
    pub tenant_id: Option<ID>,
}

impl RoleChangeInput {
    fn into_change(self) -> Result<RoleChange, crate::AppError> {
        Ok(RoleChange {
            tenant_id: self
                .tenant_id
                .as_ref()
                .map(|id| parse_tenant_id("tenantId", id))
                .transpose()?,
            subject: self.subject,
            role: self.role.into(),
        })
    }
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Adds a user to a tenant with a client role (the tenant's `client_admin`, or a platform admin).
    async fn invite_user(
        &self,
        ctx: &Context<'_>,
        input: InviteUserInput,
    ) -> async_graphql::Result<User> {
        let tenant_id = input
            .tenant_id
            .as_ref()
            .map(|id| parse_tenant_id("tenantId", id))
            .transpose()?;
        let tenancy = tenancy(ctx)?;
        let scope = tenancy
            .scope(principal(ctx)?, tenant_id, Permission::UserInvite)
            .await?;
        let role = input.role;
        let record = users::invite(
            tenancy,
            &scope,
            Invitation {
                email: input.email,
                subject: input.subject,
                display_name: input.display_name,
                role: role.into(),
            },
        )
        .await?;
        Ok(User {
            record,
            roles: vec![role],
        })
    }

    /// Grants a role: client roles to a tenant's users (its `client_admin`), staff roles (platform admins).
    async fn assign_role(
        &self,
        ctx: &Context<'_>,
        input: RoleChangeInput,
    ) -> async_graphql::Result<RoleAssignment> {
        let change = input.into_change()?;
        Ok(users::assign_role(tenancy(ctx)?, principal(ctx)?, change)
            .await?
            .into())
    }

    /// Takes a role away, effective on the holder's next request. Returns the removed assignment.
    async fn revoke_role(
        &self,
        ctx: &Context<'_>,
        input: RoleChangeInput,
    ) -> async_graphql::Result<RoleAssignment> {
        let change = input.into_change()?;
        Ok(users::revoke_role(tenancy(ctx)?, principal(ctx)?, change)
            .await?
            .into())
    }
}
