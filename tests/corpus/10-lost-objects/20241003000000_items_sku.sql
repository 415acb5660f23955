-- RedefineTables
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_items" (
    "id" INTEGER PRIMARY KEY,
    "name" TEXT NOT NULL,
    "updated_at" TEXT,
    "price" INTEGER,
    "sku" TEXT
);
INSERT INTO "new_items" ("id", "name", "updated_at", "price") SELECT "id", "name", "updated_at", "price" FROM "items";
DROP TABLE "items";
ALTER TABLE "new_items" RENAME TO "items";
CREATE INDEX "items_name" ON "items"("name");
PRAGMA foreign_keys=ON;
