CREATE TABLE labels (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE label_links (
    label_id  INTEGER NOT NULL REFERENCES labels (id) ON DELETE CASCADE,
    source_id INTEGER NOT NULL REFERENCES source (id) ON DELETE CASCADE,
    PRIMARY KEY (label_id, source_id)
);
