-- The audit trail, in its own schema (rampart_audit; the pool's search_path points here),
-- apart from application data. Same tables as the SQLite file; the append-only triggers
-- need PL/pgSQL.
CREATE TABLE audit_entries (
    seq              BIGINT PRIMARY KEY,
    ts_ms            BIGINT NOT NULL,
    action           TEXT NOT NULL,
    actor_user_id    TEXT,
    actor_ip         TEXT NOT NULL,
    actor_user_agent TEXT NOT NULL,
    target_type      TEXT,
    target_id        TEXT,
    result           TEXT NOT NULL,
    request_id       TEXT,
    metadata         TEXT NOT NULL,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL
);
CREATE INDEX audit_entries_action ON audit_entries (action, seq);
CREATE INDEX audit_entries_actor ON audit_entries (actor_user_id, seq);
CREATE INDEX audit_entries_target ON audit_entries (target_type, target_id, seq);
CREATE INDEX audit_entries_ts ON audit_entries (ts_ms);

-- Signed heads of the chain (rampart_core::audit::Checkpoint); prev_seq chains them.
CREATE TABLE audit_checkpoints (
    seq        BIGINT NOT NULL,
    prev_seq   BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL,
    PRIMARY KEY (seq, key_id)
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END
$$;
CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_change BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
