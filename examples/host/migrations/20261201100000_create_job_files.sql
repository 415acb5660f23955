-- The files of a job, each processed once.
CREATE TABLE job_files (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    done BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX idx_job_files_job ON job_files(job_id, done);
