-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_shelves" (
    "id" INTEGER PRIMARY KEY,
    "label" TEXT NOT NULL,
    "room" TEXT NOT NULL DEFAULT 'store',
    "code" TEXT
);
INSERT INTO "new_shelves" ("id", "label", "room") SELECT "id", "label", "room" FROM "shelves";
DROP TABLE "shelves";
ALTER TABLE "new_shelves" RENAME TO "shelves";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
