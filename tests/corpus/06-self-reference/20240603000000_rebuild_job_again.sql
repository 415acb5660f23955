-- foreign-keys: off
CREATE TABLE new_job (
    id        INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES job (id) ON DELETE CASCADE,
    name      TEXT NOT NULL DEFAULT '',
    extra     TEXT
);
INSERT INTO new_job (id, parent_id, name, extra) SELECT id, parent_id, coalesce(name, ''), extra FROM job;
DROP TABLE job;
ALTER TABLE new_job RENAME TO job;
