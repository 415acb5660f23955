CREATE TABLE teams (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE members (
    id      INTEGER PRIMARY KEY,
    team_id INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name    TEXT NOT NULL
);
CREATE TABLE badges (
    id    INTEGER PRIMARY KEY,
    label TEXT NOT NULL
);
