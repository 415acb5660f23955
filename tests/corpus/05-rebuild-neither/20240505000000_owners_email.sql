-- A rebuild of a table referenced with no action: with foreign keys on, the drop fails.
CREATE TABLE owners_new (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL,
    email TEXT
);
INSERT INTO owners_new (id, name) SELECT id, name FROM owners;
DROP TABLE owners;
ALTER TABLE owners_new RENAME TO owners;
