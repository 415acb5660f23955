//! The values the repositories read and write: ids, timestamps, pipelines, stages, metrics.
//!
//! Every field of these types is a column of the schema, and every column round-trips: what a
//! repository wrote is what it reads back.

mod id;
mod name;
mod pipeline;
mod stage_type;
mod time;

pub use id::{PipelineId, StageId};
pub use name::normalize_pipeline_name;
pub use pipeline::{NewPipeline, NewStage, Pipeline, ProcessingMetrics, Stage};
pub use stage_type::{CustomStageType, StageType};
pub use time::Timestamp;
