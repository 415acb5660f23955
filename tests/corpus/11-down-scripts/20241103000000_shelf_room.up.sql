-- foreign-keys: off
CREATE TABLE shelves_new (
    id    INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    room  TEXT NOT NULL DEFAULT 'store'
);
INSERT INTO shelves_new (id, label) SELECT id, label FROM shelves;
DROP TABLE shelves;
ALTER TABLE shelves_new RENAME TO shelves;
