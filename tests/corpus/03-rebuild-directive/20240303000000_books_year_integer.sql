-- foreign-keys: off
CREATE TABLE books_new (
    id        INTEGER PRIMARY KEY,
    author_id INTEGER NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
    title     TEXT NOT NULL,
    year      INTEGER CHECK (year IS NULL OR year > 0)
);
INSERT INTO books_new (id, author_id, title, year)
    SELECT id, author_id, title, nullif(CAST(year AS INTEGER), 0) FROM books;
DROP TABLE books;
ALTER TABLE books_new RENAME TO books;
CREATE INDEX books_author ON books (author_id);
