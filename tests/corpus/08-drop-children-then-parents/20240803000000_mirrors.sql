CREATE TABLE mirror_host (
    id   INTEGER PRIMARY KEY,
    url  TEXT NOT NULL
);
CREATE TABLE mirror (
    id      INTEGER PRIMARY KEY,
    host_id INTEGER REFERENCES mirror_host (id) ON DELETE SET NULL,
    source_id INTEGER NOT NULL REFERENCES source (id) ON DELETE CASCADE
);
