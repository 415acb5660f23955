-- The old table renamed away, a new one made under its name, the rows copied, the old dropped.
ALTER TABLE badges RENAME TO _badges_old;
CREATE TABLE badges (
    id    INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    color TEXT NOT NULL DEFAULT 'grey'
);
INSERT INTO badges (id, label) SELECT id, label FROM _badges_old;
DROP TABLE _badges_old;
