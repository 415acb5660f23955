-- A job runs one pipeline over a set of files.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_jobs_pipeline ON jobs(pipeline_id);
