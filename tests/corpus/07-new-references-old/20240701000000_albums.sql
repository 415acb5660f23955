CREATE TABLE albums (
    id    INTEGER PRIMARY KEY,
    title TEXT NOT NULL
);
CREATE TABLE tracks (
    id       INTEGER PRIMARY KEY,
    album_id INTEGER NOT NULL REFERENCES albums (id),
    title    TEXT NOT NULL
);
