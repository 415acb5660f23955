-- Finding pipelines by a configuration entry (key and value) without scanning the table.

CREATE INDEX IF NOT EXISTS idx_pipeline_configuration_key_value ON pipeline_configuration(key, value);
