-- The same for a parent: its children follow the rename, so the drop of the old table cascades.
ALTER TABLE teams RENAME TO _teams_old;
CREATE TABLE teams (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT
);
INSERT INTO teams (id, name) SELECT id, name FROM _teams_old;
DROP TABLE _teams_old;
