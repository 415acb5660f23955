//! The aggregate as stored (`Pipeline`, `Stage`, `ProcessingMetrics`) and as created
//! (`NewPipeline`, `NewStage`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{PipelineId, StageId, StageType, Timestamp};

/// A pipeline and everything that belongs to it, as stored.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// How long it took, stored in milliseconds (serialized as `processing_duration_ms`).
    #[cfg_attr(
        feature = "serde",
        serde(rename = "processing_duration_ms", with = "duration_ms")
    )]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

/// A run's duration as whole milliseconds, the unit the database keeps.
#[cfg(feature = "serde")]
mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[expect(
        clippy::ref_option,
        reason = "serde's `with` passes the field by reference"
    )]
    pub(super) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(deserializer)?.map(Duration::from_millis))
    }
}
