-- A rebuild of a table nothing references: safe with foreign keys on or off.
CREATE TABLE notes_new (
    id   INTEGER PRIMARY KEY,
    body TEXT NOT NULL DEFAULT ''
);
INSERT INTO notes_new (id, body) SELECT id, coalesce(body, '') FROM notes;
DROP TABLE notes;
ALTER TABLE notes_new RENAME TO notes;
