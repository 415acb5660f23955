CREATE TABLE folders (
    id   INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE
);
CREATE TABLE files (
    id        INTEGER PRIMARY KEY,
    folder_id INTEGER NOT NULL REFERENCES folders (id) ON DELETE CASCADE,
    name      TEXT NOT NULL
);
CREATE TABLE file_labels (
    id      INTEGER PRIMARY KEY,
    file_id INTEGER REFERENCES files (id) ON DELETE SET NULL,
    label   TEXT NOT NULL
);
CREATE TABLE notes (
    id   INTEGER PRIMARY KEY,
    body TEXT
);
CREATE TABLE owners (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE pets (
    id       INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES owners (id),
    name     TEXT NOT NULL
);
