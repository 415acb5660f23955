CREATE TABLE shelves (
    id    INTEGER PRIMARY KEY,
    label TEXT NOT NULL
);
CREATE TABLE boxes (
    id       INTEGER PRIMARY KEY,
    shelf_id INTEGER NOT NULL REFERENCES shelves (id) ON DELETE CASCADE,
    label    TEXT NOT NULL
);
