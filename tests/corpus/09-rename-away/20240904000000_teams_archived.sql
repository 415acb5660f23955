-- foreign-keys: off
-- With the directive the drop deletes nothing, but the children now name the dropped table.
ALTER TABLE teams RENAME TO _teams_old;
CREATE TABLE teams (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL,
    slug     TEXT,
    archived BOOLEAN NOT NULL DEFAULT 0
);
INSERT INTO teams (id, name, slug) SELECT id, name, slug FROM _teams_old;
DROP TABLE _teams_old;
