-- A page of archived pipelines by name reads only archived rows: the partial index on active
-- names (idx_pipelines_name) serves active pages, this one archived pages, and the UNIQUE index
-- on name pages of every status.

CREATE INDEX IF NOT EXISTS idx_pipelines_archived_name ON pipelines(name) WHERE archived = true;
