//! Typed ids, so a tenant id is never passed where a user id is expected. All are UUIDs; new rows get v7.

use std::fmt;

use uuid::Uuid;

use crate::error::AppError;

macro_rules! typed_id {
    ($name:ident, $what:literal) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

typed_id!(TenantId, "tenant");
typed_id!(UserId, "user");
