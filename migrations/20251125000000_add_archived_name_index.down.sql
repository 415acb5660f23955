DROP INDEX IF EXISTS idx_pipelines_archived_name;
