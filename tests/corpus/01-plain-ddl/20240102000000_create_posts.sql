CREATE TABLE posts (
    id      INTEGER PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title   TEXT    NOT NULL,
    body    TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX idx_posts_user_id ON posts (user_id);
