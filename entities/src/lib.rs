#![forbid(unsafe_code)]
//! SeaORM entities of Steward, one module per table. They carry no business rules. A column that holds one of a fixed
//! set of states is a [`stored_enum!`] (`DeriveActiveEnum` over a text column): a stored value the enum does not know
//! fails the read loudly, and the same enum is the GraphQL enum, so the schema has no mirror type to keep in step.
//!
//! Tables of the control database: [`tenant`], [`role_assignment`], [`platform_audit_event`].
//! Tables of each region database (tenant-owned, all implementing [`TenantOwned`]): [`tenant_user`], [`audit_event`],
//! [`data_subject`], [`personal_data`], [`access_grant`], [`access_log`], [`notice`].
//! The table of each region's subject-key database: [`subject_key`].

pub mod access_grant;
pub mod access_log;
pub mod adequacy_change;
pub mod audit_event;
pub mod audit_outbox;
pub mod authz_state;
pub mod breach;
pub mod breach_notification;
pub mod breach_update;
pub mod business_transfer;
pub mod change_notice;
pub mod communication_preference;
pub mod data_subject;
pub mod dsr_request;
pub mod erasure_journal;
pub mod erasure_propagation;
pub mod erasure_tombstone;
pub mod guardian_consent;
pub mod job;
pub mod key_root;
pub mod legal_disclosure;
pub mod legal_hold;
pub mod master_key_check;
pub mod mechanism_invalidation;
pub mod notice;
pub mod notice_delivery;
pub mod objection;
pub mod offboarding_certificate;
pub mod onward_transfer;
pub mod onward_transfer_subject;
pub mod personal_data;
pub mod platform_audit_event;
pub mod policy_version;
pub mod retention_default;
pub mod retention_rule;
pub mod retention_run;
pub mod role_assignment;
pub mod security_measures;
pub mod staff_notice;
pub mod subject_export;
pub mod subject_key;
pub mod subprocessor;
pub mod subprocessor_revision;
pub mod tenant;
pub mod tenant_export;
pub mod tenant_export_chunk;
pub mod tenant_user;
pub mod tenant_webhook;

use std::collections::BTreeMap;

use sea_orm::{EntityTrait, FromJsonQueryResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A list of names (categories, countries, mechanisms, systems) stored as a JSON array in a JSON column (`jsonb` on
/// PostgreSQL): the database holds JSON, and a row that does not parse fails the read instead of reading as empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(transparent)]
pub struct Names(pub Vec<String>);

/// A list of ids (subjects, sub-processors) stored as a JSON array in a JSON column.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(transparent)]
pub struct Ids(pub Vec<Uuid>);

/// A count per category (values erased or deleted), stored as a JSON object in a JSON column.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
#[serde(transparent)]
pub struct Counts(pub BTreeMap<String, i64>);

impl<T: Into<String>> FromIterator<T> for Names {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Names(iter.into_iter().map(Into::into).collect())
    }
}

impl FromIterator<Uuid> for Ids {
    fn from_iter<I: IntoIterator<Item = Uuid>>(iter: I) -> Self {
        Ids(iter.into_iter().collect())
    }
}

/// Declares a state stored as text: one list of `Variant = "stored value"` pairs gives the `DeriveActiveEnum`, the
/// GraphQL enum (its doc comments become the schema's), `as_str` and its JSON form, so the stored spelling is written once.
#[macro_export]
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash,
            sea_orm::EnumIter, sea_orm::DeriveActiveEnum, async_graphql::Enum,
        )]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        $vis enum $name {
            $( $(#[$vmeta])* #[sea_orm(string_value = $value)] $variant, )*
        }

        impl $name {
            /// The stored spelling, for messages and payloads.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $value, )*
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A table whose every row belongs to exactly one tenant. The server reaches such tables only through a tenant
/// `Scope`, which adds the tenant filter using this column; nothing else names it.
pub trait TenantOwned: EntityTrait {
    fn tenant_column() -> Self::Column;
}

/// A table of the control database whose every row concerns exactly one tenant (its change notices and objections,
/// breach notifications, legal disclosures). A tenant `Scope` reaches them through its control-database query, which
/// adds the tenant filter using this column. A separate trait, so a control table can never be queried on a region
/// database by mistake, nor the reverse.
pub trait ControlTenantOwned: EntityTrait {
    fn tenant_column() -> Self::Column;
}

/// Terms legal changed on a sub-processor in use (more countries, categories or purposes, another legal entity),
/// announced to every tenant and not yet in effect: the entry's current terms apply until `pending_effective_on`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct PendingTerms {
    pub name: String,
    pub legal_entity: String,
    pub website: String,
    pub purpose: String,
    pub countries: Vec<String>,
    pub categories: Vec<String>,
    pub mechanisms: Vec<String>,
    pub dpf_certified: bool,
    pub dpa_signed_on: Option<sea_orm::prelude::Date>,
}
