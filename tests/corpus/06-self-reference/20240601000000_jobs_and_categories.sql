CREATE TABLE job (
    id        INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES job (id) ON DELETE CASCADE,
    name      TEXT
);
CREATE TABLE categories (
    id        INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES categories (id) ON DELETE SET NULL,
    title     TEXT NOT NULL
);
