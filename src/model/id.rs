//! Ids: text newtypes, UUID v7 for new rows, any non-empty text for stored ones.

use std::fmt;

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::error::{Error, Result};

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(
            feature = "serde",
            derive(serde::Serialize, serde::Deserialize),
            serde(try_from = "String", into = "String")
        )]
        pub struct $name(String);

        impl TryFrom<String> for $name {
            type Error = Error;

            fn try_from(id: String) -> Result<Self> {
                Self::parse(id)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl $name {
            #[doc = concat!("A new ", $what, " id: a UUID v7, so ids sort by creation time.")]
            #[must_use]
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            #[doc = concat!("An existing ", $what, " id, any non-empty text (UUIDs, ULIDs, `", $what, "-123`).")]
            ///
            /// # Errors
            ///
            /// [`Error::InvalidInput`] when `id` is empty.
            pub fn parse(id: impl Into<String>) -> Result<Self> {
                let id = id.into();
                if id.is_empty() {
                    return Err(Error::invalid(concat!($what, "_id"), "must not be empty"));
                }
                Ok(Self(id))
            }

            /// The id's text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;

            fn from_str(id: &str) -> Result<Self> {
                Self::parse(id)
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::Borrowed(ValueRef::Text(self.0.as_bytes())))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                String::column_result(value).map(Self)
            }
        }
    };
}

text_id!(
    /// The id of a pipeline: text, a UUID v7 for new pipelines.
    PipelineId,
    "pipeline"
);
text_id!(
    /// The id of a stage: text, a UUID v7 for new stages.
    StageId,
    "stage"
);
