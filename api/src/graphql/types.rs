//! GraphQL types shared by the areas: DTOs over domain records (never entities), enums, and page plumbing.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use steward_policy::{ActorKind, Permission};

use super::{principal, tenancy};
use crate::error::AppError;
use crate::ids::TenantId;
use crate::pagination::{Page, PageOf};
use crate::tenancy::{Scope, Tenancy, TenantRecord, TenantStatus};
use crate::users::{self, AssignmentRecord, UserRecord};

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "TenantStatus")]
pub enum TenantStatusGql {
    Active,
    Suspended,
    Offboarding,
    Terminated,
}

impl From<TenantStatus> for TenantStatusGql {
    fn from(s: TenantStatus) -> Self {
        match s {
            TenantStatus::Active => TenantStatusGql::Active,
            TenantStatus::Suspended => TenantStatusGql::Suspended,
            TenantStatus::Offboarding => TenantStatusGql::Offboarding,
            TenantStatus::Terminated => TenantStatusGql::Terminated,
        }
    }
}

impl From<TenantStatusGql> for TenantStatus {
    fn from(s: TenantStatusGql) -> Self {
        match s {
            TenantStatusGql::Active => TenantStatus::Active,
            TenantStatusGql::Suspended => TenantStatus::Suspended,
            TenantStatusGql::Offboarding => TenantStatus::Offboarding,
            TenantStatusGql::Terminated => TenantStatus::Terminated,
        }
    }
}

/// Roles. Client roles (`CLIENT_ADMIN`, `CLIENT_VIEWER`) hold in one tenant; the others are staff roles.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "Role")]
pub enum RoleGql {
    ClientAdmin,
    ClientViewer,
    PlatformAdmin,
    Support,
    PrivacyOfficer,
    Legal,
    Auditor,
}

impl From<steward_policy::Role> for RoleGql {
    fn from(r: steward_policy::Role) -> Self {
        use steward_policy::Role as R;
        match r {
            R::ClientAdmin => RoleGql::ClientAdmin,
            R::ClientViewer => RoleGql::ClientViewer,
            R::PlatformAdmin => RoleGql::PlatformAdmin,
            R::Support => RoleGql::Support,
            R::PrivacyOfficer => RoleGql::PrivacyOfficer,
            R::Legal => RoleGql::Legal,
            R::Auditor => RoleGql::Auditor,
        }
    }
}

impl From<RoleGql> for steward_policy::Role {
    fn from(r: RoleGql) -> Self {
        use steward_policy::Role as R;
        match r {
            RoleGql::ClientAdmin => R::ClientAdmin,
            RoleGql::ClientViewer => R::ClientViewer,
            RoleGql::PlatformAdmin => R::PlatformAdmin,
            RoleGql::Support => R::Support,
            RoleGql::PrivacyOfficer => R::PrivacyOfficer,
            RoleGql::Legal => R::Legal,
            RoleGql::Auditor => R::Auditor,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
#[graphql(name = "PrincipalKind")]
pub enum PrincipalKindGql {
    Staff,
    Client,
}

impl From<ActorKind> for PrincipalKindGql {
    fn from(k: ActorKind) -> Self {
        match k {
            ActorKind::Staff => PrincipalKindGql::Staff,
            ActorKind::Client => PrincipalKindGql::Client,
        }
    }
}

/// Extra fields on every connection.
#[derive(SimpleObject, Debug)]
pub struct PageInfoExtra {
    /// How many items match, across all pages.
    pub total_count: u64,
}

pub type Conn<N> = Connection<String, N, PageInfoExtra>;

/// Turns a page of records into a connection; cursors are the records' (time-ordered) ids.
pub fn connection<T, N: async_graphql::OutputType>(
    page: PageOf<T>,
    cursor: impl Fn(&T) -> String,
    node: impl Fn(T) -> N,
) -> Conn<N> {
    let mut conn = Connection::with_additional_fields(
        page.has_previous,
        page.has_next,
        PageInfoExtra {
            total_count: page.total,
        },
    );
    conn.edges.extend(
        page.rows
            .into_iter()
            .map(|row| Edge::new(cursor(&row), node(row))),
    );
    conn
}

pub fn parse_tenant_id(field: &str, id: &ID) -> Result<TenantId, AppError> {
    TenantId::parse(field, id.as_str())
}

/// A client (tenant) of the processor.
/// A tenant's offboarding.
#[derive(SimpleObject)]
pub struct Offboarding {
    /// `delete` or `return_then_delete`.
    pub choice: String,
    pub started_at: Option<DateTime<Utc>>,
    /// When the grace period ends; every subject's data and keys are deleted then if the deletion was authorized.
    pub data_deleted_at: Option<DateTime<Utc>>,
    pub terminated_at: Option<DateTime<Utc>>,
    /// The platform admin who began it.
    pub requested_by: Option<String>,
    /// Who authorized the deletion (the tenant's `client_admin` or a second platform admin); null: nothing will be
    /// deleted yet.
    pub authorized_by: Option<String>,
    pub authorized_at: Option<DateTime<Utc>>,
    /// When the deletion started; from then on it cannot be cancelled.
    pub erasure_started_at: Option<DateTime<Utc>>,
}

pub struct Tenant(pub TenantRecord);

#[Object]
impl Tenant {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Where the tenant's personal data lives; it never leaves this region's database.
    async fn region(&self) -> &str {
        &self.0.region
    }
    async fn status(&self) -> TenantStatusGql {
        self.0.status.into()
    }
    /// Why the tenant was last suspended, while it is.
    async fn status_reason(&self) -> Option<&str> {
        self.0.status_reason.as_deref()
    }
    /// Contract end: the client's choice and its dates, once offboarding began.
    #[graphql(complexity = "10 + child_complexity")]
    async fn offboarding(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Offboarding>> {
        let Some(t) = crate::offboarding::details(tenancy(ctx)?, self.0.id).await? else {
            return Ok(None);
        };
        Ok(t.offboarding_choice.map(|choice| Offboarding {
            choice,
            started_at: t.offboarding_started_at,
            data_deleted_at: t.offboarding_due_at,
            terminated_at: t.terminated_at,
            requested_by: t.offboarding_requested_by,
            authorized_by: t.offboarding_authorized_by,
            authorized_at: t.offboarding_authorized_at,
            erasure_started_at: t.offboarding_erasure_started_at,
        }))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The tenant's users (needs `user:read` in this tenant).
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<User>> {
        let page = Page::new(first, after.as_deref())?;
        let tenancy = tenancy(ctx)?;
        let scope = tenancy
            .scope(principal(ctx)?, Some(self.0.id), Permission::UserRead)
            .await?;
        Ok(users_page(tenancy, &scope, page).await?)
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
