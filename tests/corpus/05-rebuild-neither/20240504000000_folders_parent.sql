-- A rebuild of a table referenced ON DELETE CASCADE, without the directive.
CREATE TABLE folders_new (
    id        INTEGER PRIMARY KEY,
    path      TEXT NOT NULL UNIQUE,
    parent_id INTEGER
);
INSERT INTO folders_new (id, path) SELECT id, path FROM folders;
DROP TABLE folders;
ALTER TABLE folders_new RENAME TO folders;
