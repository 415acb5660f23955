-- Add migration script here
CREATE TABLE IF NOT EXISTS users (
    id         INTEGER PRIMARY KEY NOT NULL,
    email      TEXT    NOT NULL UNIQUE,
    name       TEXT,
    created_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
);
