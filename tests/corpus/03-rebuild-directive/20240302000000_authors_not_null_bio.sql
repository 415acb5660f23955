-- foreign-keys: off
-- The twelve steps of https://sqlite.org/lang_altertable.html#otheralter, in a transaction.
CREATE TABLE new_authors (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    bio  TEXT NOT NULL DEFAULT ''
);
INSERT INTO new_authors (id, name) SELECT id, name FROM authors;
DROP TABLE authors;
ALTER TABLE new_authors RENAME TO authors;
