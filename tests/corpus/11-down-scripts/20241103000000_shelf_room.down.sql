-- foreign-keys: off
CREATE TABLE shelves_old (
    id    INTEGER PRIMARY KEY,
    label TEXT NOT NULL
);
INSERT INTO shelves_old (id, label) SELECT id, label FROM shelves;
DROP TABLE shelves;
ALTER TABLE shelves_old RENAME TO shelves;
