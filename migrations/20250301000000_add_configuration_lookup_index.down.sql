-- Reverts 20250301000000: find_by_config falls back to scanning pipeline_configuration.

DROP INDEX IF EXISTS idx_pipeline_configuration_key_value;
