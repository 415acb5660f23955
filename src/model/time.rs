//! `Timestamp`: UTC with microseconds, written as fixed-width RFC 3339.

use std::fmt;
use std::time::Duration;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result};

/// A point in time, UTC, with microsecond precision.
///
/// Written as fixed-width RFC 3339 (`2025-01-01T00:00:00.000000Z`), so text order is time
/// order; read from any RFC 3339 form (`+00:00`, nanoseconds, whole seconds). Digits finer
/// than a microsecond are dropped when a value is made (by [`Timestamp::parse`], from an
/// [`OffsetDateTime`] or from a stored value), so a `Timestamp` always equals what the database
/// keeps of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The current time, truncated to microseconds (what the database keeps).
    #[must_use]
    pub fn now() -> Self {
        Self::from(OffsetDateTime::now_utc())
    }

    /// Parses any RFC 3339 timestamp, keeping microseconds.
    ///
    /// ```
    /// use pipeline_store::model::Timestamp;
    ///
    /// let a = Timestamp::parse("2025-01-01T00:00:00Z")?;
    /// let b = Timestamp::parse("2025-01-01T01:00:00.000000999+01:00")?;
    /// assert_eq!(a, b);
    /// assert_eq!(a.to_string(), "2025-01-01T00:00:00.000000Z");
    /// # Ok::<(), pipeline_store::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the text when it is not RFC 3339.
    pub fn parse(text: &str) -> Result<Self> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map(Self::from)
            .map_err(|e| Error::invalid("timestamp", format!("`{text}` is not RFC 3339: {e}")))
    }

    /// The underlying `time` value (UTC).
    #[must_use]
    pub fn as_offset_date_time(&self) -> OffsetDateTime {
        self.0
    }

    /// The time elapsed from `earlier` to `self`, zero when `earlier` is later.
    #[must_use]
    pub fn since(&self, earlier: Self) -> Duration {
        (self.0 - earlier.0).try_into().unwrap_or(Duration::ZERO)
    }
}

impl From<OffsetDateTime> for Timestamp {
    /// The same instant in UTC, truncated to microseconds.
    fn from(t: OffsetDateTime) -> Self {
        let utc = t.to_offset(time::UtcOffset::UTC);
        let micros = utc.nanosecond() / 1_000 * 1_000;
        Self(utc.replace_nanosecond(micros).unwrap_or(utc))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }
}

impl ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_string()))
    }
}

impl FromSql for Timestamp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        OffsetDateTime::parse(text, &Rfc3339)
            .map(Self::from)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// RFC 3339 text, as the database keeps it.
#[cfg(feature = "serde")]
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Any RFC 3339 text, as [`Timestamp::parse`] reads it.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The history row's time, read in the model's own type: the migration layer keeps the text
/// as written, the model knows how to read it.
impl crate::migrate::AppliedMigration {
    /// [`installed_on`](Self::installed_on) as a [`Timestamp`]: SQLite's
    /// `YYYY-MM-DD HH:MM:SS` (UTC, what `CURRENT_TIMESTAMP` writes) or RFC 3339; `None` for any
    /// other text another tool may have stored.
    ///
    /// ```
    /// let conn = pipeline_store::initialize_database(":memory:")?;
    /// let first = &pipeline_store::migrate::applied(&conn)?[0];
    /// let at = first.installed_at().expect("written by CURRENT_TIMESTAMP");
    /// assert!(at.to_string().ends_with('Z'));
    /// # Ok::<(), pipeline_store::Error>(())
    /// ```
    #[must_use]
    pub fn installed_at(&self) -> Option<Timestamp> {
        let text = self.installed_on.trim();
        if let Ok(t) = Timestamp::parse(text) {
            return Some(t);
        }
        // `YYYY-MM-DD HH:MM:SS[.SSS]` in UTC is RFC 3339 with a space for the `T` and no zone.
        Timestamp::parse(&format!("{}Z", text.replacen(' ', "T", 1))).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fixed_width_and_read_any_rfc3339() {
        let t = Timestamp::parse("2025-03-04T05:06:07.123456789+00:00").unwrap();
        assert_eq!(t.to_string(), "2025-03-04T05:06:07.123456Z");
        assert_eq!(
            Timestamp::parse("2025-03-04T05:06:07Z")
                .unwrap()
                .to_string(),
            "2025-03-04T05:06:07.000000Z"
        );
        assert!(Timestamp::parse("yesterday").is_err());
        let now = Timestamp::now();
        assert_eq!(Timestamp::parse(&now.to_string()).unwrap(), now);
    }

    #[test]
    fn timestamps_keep_microseconds_whatever_they_are_made_from() {
        let parsed = Timestamp::parse("2025-03-04T05:06:07.123456789Z").unwrap();
        let made = Timestamp::from(
            OffsetDateTime::parse("2025-03-04T07:06:07.123456999+02:00", &Rfc3339).unwrap(),
        );
        assert_eq!(parsed, made);
        assert_eq!(parsed.as_offset_date_time().nanosecond(), 123_456_000);
        assert_eq!(Timestamp::parse(&parsed.to_string()).unwrap(), parsed);
    }
}
