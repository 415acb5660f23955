DROP TRIGGER IF EXISTS pipelines_copy_to_tags;
DROP INDEX IF EXISTS idx_pipeline_tags_tag_name;
DROP INDEX IF EXISTS idx_pipeline_tags_tag_status_name;
ALTER TABLE pipeline_tags DROP COLUMN pipeline_archived;
ALTER TABLE pipeline_tags DROP COLUMN pipeline_name;
