//! Users and roles: `users`, `inviteUser`, `assignRole`, `revokeRole`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use steward_policy::Permission;

use crate::error::AppError;
use crate::graphql::types::{Conn, PrincipalKindGql, RoleGql, connection, parse_tenant_id};
use crate::graphql::{principal, tenancy};
use crate::pagination::Page;
use crate::pagination::PageOf;
use crate::tenancy::assignments::AssignmentRecord;
use crate::tenancy::{Scope, Tenancy};
use crate::users::UserRecord;
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

/// A page of the scope's users with their roles (roles come from the in-memory policy store, not the database).
pub(crate) async fn users_page(
    tenancy: &Tenancy,
    scope: &Scope,
    page: Page,
) -> Result<Conn<User>, AppError> {
    let found = users::list(scope, page).await?;
    let mut nodes = Vec::with_capacity(found.rows.len());
    for record in found.rows {
        let roles = users::roles_of_user(tenancy, scope, &record.subject).await;
        nodes.push(User {
            record,
            roles: roles.into_iter().map(Into::into).collect(),
        });
    }
    let page = PageOf {
        rows: nodes,
        has_next: found.has_next,
        has_previous: found.has_previous,
        total: found.total,
    };
    Ok(connection(page, |u| u.record.id.0.to_string(), |u| u))
}

/// A user of a client, who signs in to the console.
pub struct User {
    pub record: UserRecord,
    pub roles: Vec<RoleGql>,
}

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.record.id.0.to_string())
    }
    /// The `sub` of the user's tokens.
    async fn subject(&self) -> &str {
        &self.record.subject
    }
    async fn email(&self) -> &str {
        &self.record.email
    }
    async fn display_name(&self) -> Option<&str> {
        self.record.display_name.as_deref()
    }
    /// Roles held in this tenant.
    async fn roles(&self) -> &[RoleGql] {
        &self.roles
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.record.created_at
    }
}

/// One role held by one person.
#[derive(SimpleObject)]
pub struct RoleAssignment {
    pub subject: String,
    pub kind: PrincipalKindGql,
    pub role: RoleGql,
    /// The tenant a client role holds in; null for staff roles, which hold in every tenant.
    pub tenant_id: Option<ID>,
    pub assigned_by: String,
    pub assigned_at: DateTime<Utc>,
}

impl From<AssignmentRecord> for RoleAssignment {
    fn from(a: AssignmentRecord) -> Self {
        RoleAssignment {
            subject: a.subject,
            kind: a.kind.into(),
            role: a.role.into(),
            tenant_id: a.tenant_id.map(|t| ID(t.to_string())),
            assigned_by: a.assigned_by,
            assigned_at: a.assigned_at,
        }
    }
}
