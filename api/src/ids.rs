//! Typed ids, so a subject's id is never passed where a grant's is expected. All are UUIDs; new rows get v7.
//!
//! The rule: a domain function that takes or returns the id of a row takes or returns its typed id. Ids enter
//! typed at the edge (`XId::parse` names the argument in its error), travel typed through the services, and
//! leave as a `Uuid` only where they meet a column (`From<XId> for sea_orm::Value`, so `Column::Id.eq(id)` reads
//! as it did). Serialized forms (job payloads, outbox rows) are the bare UUID, so stored rows read the same.

use std::fmt;

use uuid::Uuid;

use crate::error::AppError;

macro_rules! typed_id {
    ($name:ident, $what:literal) => {
        #[derive(
            Clone,
            Copy,
            Debug,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }

            /// Parses an id given by a caller; a malformed one is the caller's mistake, named as such.
            pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
                Uuid::parse_str(raw.trim()).map($name).map_err(|_| {
                    AppError::BadInput(format!(
                        "`{field}` is not a valid {} id (expected a UUID)",
                        $what
                    ))
                })
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl From<$name> for sea_orm::Value {
            fn from(id: $name) -> sea_orm::Value {
                id.0.into()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

typed_id!(TenantId, "tenant");
typed_id!(UserId, "user");
typed_id!(SubjectId, "data subject");
typed_id!(RecordId, "personal data record");
typed_id!(RequestId, "request");
typed_id!(GrantId, "access grant");
typed_id!(SubProcessorId, "sub-processor");
typed_id!(ChangeNoticeId, "change notice");
typed_id!(ObjectionId, "objection");
typed_id!(NoticeId, "notice");
typed_id!(HoldId, "legal hold");
typed_id!(RuleId, "retention rule");
typed_id!(DisclosureId, "legal disclosure");
typed_id!(BreachId, "breach");
typed_id!(JobId, "job");
typed_id!(PropagationId, "erasure propagation");
typed_id!(ExportId, "export");
