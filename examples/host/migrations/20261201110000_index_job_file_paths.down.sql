DROP INDEX idx_job_files_path;
