CREATE TABLE provider (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE repo (
    id          INTEGER PRIMARY KEY,
    provider_id INTEGER NOT NULL REFERENCES provider (id) ON DELETE CASCADE,
    name        TEXT NOT NULL
);
CREATE TABLE repo_star (
    id      INTEGER PRIMARY KEY,
    repo_id INTEGER NOT NULL REFERENCES repo (id) ON DELETE CASCADE,
    who     TEXT
);
