-- A page of a tag is read in name order from one index and stops after the page, whether the
-- tag is held by three pipelines or by half of them: each tag row carries a copy of its
-- pipeline's name and archived flag. The library writes the copies with the tag; the trigger
-- below keeps them in step when any tool renames, archives or restores a pipeline. (A trigger
-- on pipeline_tags reading pipelines would make the usual rebuild of pipelines fail at its
-- ALTER TABLE ... RENAME, so there is none: tag rows are written by this library only.)

ALTER TABLE pipeline_tags ADD COLUMN pipeline_name TEXT NOT NULL DEFAULT '';
ALTER TABLE pipeline_tags ADD COLUMN pipeline_archived BOOLEAN NOT NULL DEFAULT FALSE;

UPDATE pipeline_tags
SET pipeline_name = coalesce(
        (SELECT name FROM pipelines WHERE pipelines.id = pipeline_tags.pipeline_id), ''),
    pipeline_archived = coalesce(
        (SELECT archived FROM pipelines WHERE pipelines.id = pipeline_tags.pipeline_id), FALSE);

-- Pages of active or of archived pipelines with a tag.
CREATE INDEX IF NOT EXISTS idx_pipeline_tags_tag_status_name
    ON pipeline_tags(tag, pipeline_archived, pipeline_name);
-- Pages of every pipeline with a tag.
CREATE INDEX IF NOT EXISTS idx_pipeline_tags_tag_name ON pipeline_tags(tag, pipeline_name);

-- A renamed, archived or restored pipeline's tag rows follow it. A migration that rebuilds
-- pipelines (create, copy, drop, rename) creates this trigger again, as it does the table's
-- indexes; one that rebuilds pipeline_tags drops it first and creates it again after.
CREATE TRIGGER IF NOT EXISTS pipelines_copy_to_tags
AFTER UPDATE OF name, archived ON pipelines
WHEN NEW.name IS NOT OLD.name OR NEW.archived IS NOT OLD.archived
BEGIN
    UPDATE pipeline_tags
    SET pipeline_name = NEW.name, pipeline_archived = NEW.archived
    WHERE pipeline_id = NEW.id;
END;
