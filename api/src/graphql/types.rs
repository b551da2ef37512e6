//! GraphQL types shared by the areas: DTOs over domain records (never entities), enums, and page plumbing.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Enum, ID, SimpleObject};
use steward_policy::ActorKind;

use crate::error::AppError;
use crate::ids::TenantId;
use crate::pagination::PageOf;

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
