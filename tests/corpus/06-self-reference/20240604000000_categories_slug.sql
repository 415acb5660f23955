-- The copy references itself by its own name; the rename makes that the final name.
CREATE TABLE categories_new (
    id        INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES categories_new (id) ON DELETE SET NULL,
    title     TEXT NOT NULL,
    slug      TEXT
);
INSERT INTO categories_new (id, parent_id, title) SELECT id, parent_id, title FROM categories;
DROP TABLE categories;
ALTER TABLE categories_new RENAME TO categories;
