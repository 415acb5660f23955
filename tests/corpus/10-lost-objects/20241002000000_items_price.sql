-- foreign-keys: off
-- A rebuild that forgets the index and the trigger: the rows are kept, the objects are not.
CREATE TABLE items_new (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    updated_at TEXT,
    price      INTEGER
);
INSERT INTO items_new (id, name, updated_at) SELECT id, name, updated_at FROM items;
DROP TABLE items;
ALTER TABLE items_new RENAME TO items;
