-- The copy references the final name while the old table still has it: the drop nulls the copy's keys.
CREATE TABLE categories_new (
    id        INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES categories (id) ON DELETE SET NULL,
    title     TEXT NOT NULL,
    slug      TEXT,
    position  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO categories_new (id, parent_id, title, slug) SELECT id, parent_id, title, slug FROM categories;
DROP TABLE categories;
ALTER TABLE categories_new RENAME TO categories;
