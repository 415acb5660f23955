CREATE TABLE items (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    updated_at TEXT
);
CREATE INDEX items_name ON items (name);
CREATE TRIGGER items_touch AFTER UPDATE OF name ON items
BEGIN
    UPDATE items SET updated_at = '2026-01-01' WHERE id = NEW.id;
END;
