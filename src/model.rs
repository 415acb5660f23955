//! The values the repositories read and write: ids, timestamps, pipelines, stages, metrics.
//!
//! Every field of these types is a column of the schema, and every column round-trips: what a
//! repository wrote is what it reads back.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result};

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

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

/// What a stage does. Stored lowercase; read case-insensitively.
///
/// A stored value outside the known kinds (older databases hold `Custom`) loads as
/// [`StageType::Other`], which keeps the text and writes it back unchanged. A known name is never
/// an `Other`: [`StageType::parse`] is the only way to make one, so what is written is what is
/// read back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StageType {
    /// Compresses data (`compression`).
    Compression,
    /// Encrypts data (`encryption`).
    Encryption,
    /// Transforms data (`transform`).
    Transform,
    /// Computes or verifies a checksum (`checksum`).
    Checksum,
    /// Passes data through unchanged (`passthrough`).
    PassThrough,
    /// Any other kind, kept as stored (made by [`StageType::parse`]).
    Other(CustomStageType),
}

/// The text of a stage type outside the known kinds, as given or stored.
///
/// It is never the name of a known kind in any spelling: [`StageType::parse`] turns those into
/// their own variants.
///
/// ```
/// use pipeline_store::model::StageType;
///
/// let StageType::Other(custom) = StageType::parse("Custom") else { unreachable!() };
/// assert_eq!(custom.as_str(), "Custom");
/// assert_eq!(StageType::parse("COMPRESSION"), StageType::Compression);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomStageType(String);

impl CustomStageType {
    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomStageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StageType {
    /// The text stored in `pipeline_stages.stage_type`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Compression => "compression",
            Self::Encryption => "encryption",
            Self::Transform => "transform",
            Self::Checksum => "checksum",
            Self::PassThrough => "passthrough",
            Self::Other(text) => text.as_str(),
        }
    }

    /// Reads a stored or typed kind: known kinds case-insensitively (`pass_through` and
    /// `pass-through` too), anything else as [`StageType::Other`].
    ///
    /// ```
    /// use pipeline_store::model::StageType;
    ///
    /// assert_eq!(StageType::parse("Compression"), StageType::Compression);
    /// assert_eq!(StageType::parse("Custom").as_str(), "Custom");
    /// assert_eq!(StageType::parse("pass-through"), StageType::PassThrough);
    /// ```
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "compression" => Self::Compression,
            "encryption" => Self::Encryption,
            "transform" => Self::Transform,
            "checksum" => Self::Checksum,
            "passthrough" | "pass_through" | "pass-through" => Self::PassThrough,
            _ => Self::Other(CustomStageType(text.to_owned())),
        }
    }
}

impl From<&str> for StageType {
    /// The same as [`StageType::parse`].
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl fmt::Display for StageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql for StageType {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(
            self.as_str().as_bytes(),
        )))
    }
}

impl FromSql for StageType {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str().map(Self::parse)
    }
}

/// A pipeline and everything that belongs to it, as stored.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Pipeline {
    /// Its id.
    pub id: PipelineId,
    /// Its unique name.
    pub name: String,
    /// Whether it is archived (soft-deleted).
    pub archived: bool,
    /// Key-value configuration, by key.
    pub configuration: BTreeMap<String, String>,
    /// Its stages, by `order`.
    pub stages: Vec<Stage>,
    /// The metrics of its last recorded run, if any.
    pub metrics: Option<ProcessingMetrics>,
    /// Its tags.
    pub tags: BTreeSet<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

/// One stage of a pipeline, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stage {
    /// Its id.
    pub id: StageId,
    /// The pipeline it belongs to.
    pub pipeline_id: PipelineId,
    /// Its name (`compression`, `encryption`, ...).
    pub name: String,
    /// What it does.
    pub stage_type: StageType,
    /// The algorithm it uses (`zstd`, `aes256gcm`, ...).
    pub algorithm: String,
    /// Whether it runs.
    pub enabled: bool,
    /// Its position, 0-based; unique within the pipeline.
    pub order: u32,
    /// Whether it may process chunks in parallel.
    pub parallel_processing: bool,
    /// Its chunk size override, in bytes.
    pub chunk_size: Option<u64>,
    /// Key-value parameters, by key.
    pub parameters: BTreeMap<String, String>,
    /// Whether it is archived (with its pipeline).
    pub archived: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last changed.
    pub updated_at: Timestamp,
}

/// The metrics of a pipeline's run: every column of `processing_metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ProcessingMetrics {
    /// Bytes processed so far.
    pub bytes_processed: u64,
    /// Bytes to process in all.
    pub bytes_total: u64,
    /// Chunks processed so far.
    pub chunks_processed: u64,
    /// Chunks to process in all.
    pub chunks_total: u64,
    /// When the run started.
    pub start_time: Option<Timestamp>,
    /// When the run ended.
    pub end_time: Option<Timestamp>,
    /// How long it took, stored in milliseconds.
    pub processing_duration: Option<Duration>,
    /// Throughput in bytes per second.
    pub throughput_bytes_per_second: f64,
    /// Output size over input size.
    pub compression_ratio: Option<f64>,
    /// Errors seen.
    pub error_count: u64,
    /// Warnings seen.
    pub warning_count: u64,
    /// Size of the input file in bytes.
    pub input_file_size_bytes: u64,
    /// Size of the output file in bytes.
    pub output_file_size_bytes: u64,
    /// Checksum of the input file.
    pub input_file_checksum: Option<String>,
    /// Checksum of the output file.
    pub output_file_checksum: Option<String>,
}

/// A pipeline to create.
///
/// ```
/// use pipeline_store::model::{NewPipeline, NewStage, StageType};
///
/// let new = NewPipeline::new("secure-backup")
///     .stage(NewStage::new("compress", StageType::Compression, "zstd").parameter("level", "9"))
///     .stage(NewStage::new("encrypt", StageType::Encryption, "aes256gcm"))
///     .config("max_workers", "4")
///     .tag("nightly");
/// assert_eq!(new.stages.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct NewPipeline {
    /// The unique name.
    pub name: String,
    /// Stages, in order.
    pub stages: Vec<NewStage>,
    /// Configuration.
    pub configuration: BTreeMap<String, String>,
    /// Tags.
    pub tags: BTreeSet<String>,
    /// Metrics to record with it.
    pub metrics: Option<ProcessingMetrics>,
}

impl NewPipeline {
    /// A pipeline named `name` with nothing in it yet.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Appends a stage.
    #[must_use]
    pub fn stage(mut self, stage: NewStage) -> Self {
        self.stages.push(stage);
        self
    }

    /// Sets a configuration entry.
    #[must_use]
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configuration.insert(key.into(), value.into());
        self
    }

    /// Adds a tag.
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.insert(tag.into());
        self
    }

    /// Records metrics with the pipeline.
    #[must_use]
    pub fn metrics(mut self, metrics: ProcessingMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }
}

/// A stage to create.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewStage {
    /// Its name.
    pub name: String,
    /// What it does.
    pub stage_type: StageType,
    /// Its algorithm.
    pub algorithm: String,
    /// Whether it runs (default `true`).
    pub enabled: bool,
    /// Whether it may process chunks in parallel (default `false`).
    pub parallel_processing: bool,
    /// Its chunk size override.
    pub chunk_size: Option<u64>,
    /// Its parameters.
    pub parameters: BTreeMap<String, String>,
}

impl NewStage {
    /// An enabled, sequential stage with no parameters.
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        stage_type: StageType,
        algorithm: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            stage_type,
            algorithm: algorithm.into(),
            enabled: true,
            parallel_processing: false,
            chunk_size: None,
            parameters: BTreeMap::new(),
        }
    }

    /// Sets a parameter.
    #[must_use]
    pub fn parameter(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.insert(key.into(), value.into());
        self
    }

    /// Sets whether it runs.
    #[must_use]
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Sets whether it may process chunks in parallel.
    #[must_use]
    pub fn parallel(mut self, parallel: bool) -> Self {
        self.parallel_processing = parallel;
        self
    }

    /// Sets its chunk size.
    #[must_use]
    pub fn chunk_size(mut self, bytes: u64) -> Self {
        self.chunk_size = Some(bytes);
        self
    }
}

/// Normalizes a pipeline name by the original application's rule, for callers that want it.
///
/// Lowercase; ASCII separators and punctuation become `-`; other characters that are not ASCII
/// letters or digits are dropped; runs of `-` collapse and are trimmed. The result must have at
/// least 4 characters and not be one of the reserved words `help`, `list`, `show`, `create`,
/// `delete`, `process`, `restore`, `validate`.
///
/// ```
/// use pipeline_store::model::normalize_pipeline_name;
///
/// assert_eq!(normalize_pipeline_name("My Backup_v2.1")?, "my-backup-v2-1");
/// assert!(normalize_pipeline_name("HELP!").is_err());
/// # Ok::<(), pipeline_store::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidInput`] for the field `name` when the result is too short or reserved.
pub fn normalize_pipeline_name(name: &str) -> Result<String> {
    const RESERVED: [&str; 8] = [
        "help", "list", "show", "create", "delete", "process", "restore", "validate",
    ];
    let mut normalized = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            normalized.push(c.to_ascii_lowercase());
        } else if (c.is_ascii_punctuation() || c.is_ascii_whitespace())
            && !normalized.is_empty()
            && !normalized.ends_with('-')
        {
            normalized.push('-');
        }
    }
    while normalized.ends_with('-') {
        normalized.pop();
    }
    if normalized.len() < 4 {
        return Err(Error::invalid(
            "name",
            format!("`{name}` normalizes to `{normalized}`, shorter than 4 characters"),
        ));
    }
    if RESERVED.contains(&normalized.as_str()) {
        return Err(Error::invalid(
            "name",
            format!("`{normalized}` is a reserved word"),
        ));
    }
    Ok(normalized)
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
    fn names_normalize_like_the_original_application() {
        for (input, expected) in [
            ("hello world", "hello-world"),
            ("Hello__World", "hello-world"),
            ("a/b\\c:d;e,f|g", "a-b-c-d-e-f-g"),
            ("--Data Processing--", "data-processing"),
            ("héllo-wörld", "hllo-wrld"),
            (
                "data_processing/v2.1@production",
                "data-processing-v2-1-production",
            ),
        ] {
            assert_eq!(normalize_pipeline_name(input).unwrap(), expected, "{input}");
        }
        for refused in ["abc", "a-b", "!!!", "", "Help", "RESTORE!!", "validate"] {
            assert!(normalize_pipeline_name(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn stage_types_keep_unknown_text() {
        assert_eq!(StageType::parse("PassThrough"), StageType::PassThrough);
        assert_eq!(StageType::parse("ENCRYPTION").as_str(), "encryption");
        assert_eq!(StageType::parse("Custom").as_str(), "Custom");
    }

    #[test]
    fn a_known_stage_type_is_never_other_in_any_spelling() {
        for known in [
            "compression",
            "Compression",
            "ENCRYPTION",
            "transform",
            "checksum",
            "passthrough",
            "pass_through",
            "Pass-Through",
        ] {
            let parsed = StageType::parse(known);
            assert!(!matches!(parsed, StageType::Other(_)), "{known}");
            // What is written reads back as the same value.
            assert_eq!(StageType::parse(parsed.as_str()), parsed, "{known}");
            assert_eq!(StageType::from(known), parsed);
        }
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
