-- Accounts, sessions and refresh tokens. Times are unix milliseconds; ids are canonical
-- UUID text. This SQL runs unchanged on SQLite and PostgreSQL (TEXT and BIGINT only); a
-- migration that must differ per backend gets its own folder.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- A session is one login: a refresh-token family and the access tokens minted from it.
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    ip            TEXT NOT NULL,
    user_agent    TEXT NOT NULL,
    revoked_at    BIGINT,
    revoke_reason TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Refresh tokens are stored only as SHA-256 hashes. used_at is set exactly once, by the
-- conditional UPDATE that rotates the token; successor_hash records what it rotated into.
CREATE TABLE refresh_tokens (
    token_hash     TEXT PRIMARY KEY,
    session_id     TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    used_at        BIGINT,
    successor_hash TEXT
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
