-- Paths are looked up by the reader.
CREATE INDEX idx_job_files_path ON job_files(path);
