-- Undone without the directive or the pragma: the rebuild's drop cascades into boxes.
CREATE TABLE shelves_old (
    id    INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    room  TEXT NOT NULL DEFAULT 'store'
);
INSERT INTO shelves_old (id, label, room) SELECT id, label, room FROM shelves;
DROP TABLE shelves;
ALTER TABLE shelves_old RENAME TO shelves;
