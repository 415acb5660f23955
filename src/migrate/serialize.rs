//! How the report types serialize the fields that are not plain data (feature `serde`).

use std::fmt::Display;
use std::time::Duration;

/// A duration as whole nanoseconds (saturating).
pub(super) fn nanos<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
}

/// A value as its `Display` text.
pub(super) fn text<S: serde::Serializer>(
    value: &impl Display,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}
