-- A rebuild of a table referenced ON DELETE SET NULL, without the directive.
CREATE TABLE files_new (
    id        INTEGER PRIMARY KEY,
    folder_id INTEGER NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    size      INTEGER NOT NULL DEFAULT 0
);
INSERT INTO files_new (id, folder_id, name) SELECT id, folder_id, name FROM files;
DROP TABLE files;
ALTER TABLE files_new RENAME TO files;
