DROP INDEX IF EXISTS idx_posts_user_id;
CREATE INDEX idx_posts_user_published ON posts (user_id, published);
