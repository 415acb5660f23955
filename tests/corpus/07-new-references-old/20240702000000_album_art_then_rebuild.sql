-- A new table that references albums is filled, then albums is rebuilt: the drop empties it.
CREATE TABLE album_art (
    album_id INTEGER PRIMARY KEY REFERENCES albums (id) ON DELETE CASCADE,
    url      TEXT
);
INSERT INTO album_art (album_id) SELECT id FROM albums;
CREATE TABLE albums_new (
    id     INTEGER PRIMARY KEY,
    title  TEXT NOT NULL,
    artist TEXT
);
INSERT INTO albums_new (id, title) SELECT id, title FROM albums;
DROP TABLE albums;
ALTER TABLE albums_new RENAME TO albums;
