-- foreign-keys: off
-- The same shape with the directive: the new table keeps its rows.
CREATE TABLE album_credits (
    id       INTEGER PRIMARY KEY,
    album_id INTEGER NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
    name     TEXT
);
INSERT INTO album_credits (album_id, name) SELECT id, title FROM albums;
CREATE TABLE albums_new (
    id     INTEGER PRIMARY KEY,
    title  TEXT NOT NULL,
    artist TEXT,
    year   INTEGER
);
INSERT INTO albums_new (id, title, artist) SELECT id, title, artist FROM albums;
DROP TABLE albums;
ALTER TABLE albums_new RENAME TO albums;
