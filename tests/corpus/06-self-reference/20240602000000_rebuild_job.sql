-- The copy references the table it replaces: dropping that table cascades into the copy.
CREATE TABLE new_job (
    id        INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES job (id) ON DELETE CASCADE,
    name      TEXT,
    extra     TEXT
);
INSERT INTO new_job (id, parent_id, name) SELECT id, parent_id, name FROM job;
DROP TABLE job;
ALTER TABLE new_job RENAME TO job;
