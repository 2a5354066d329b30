-- Ward directory, PostgreSQL dialect. Keep in step with migrations/sqlite/0001_directory.sql.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    doc         TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE tenant_domains (
    domain      TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id)
);
CREATE INDEX tenant_domains_by_tenant ON tenant_domains(tenant_id);

CREATE TABLE objects (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    id          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    unique_key  TEXT,
    doc         TEXT NOT NULL,
    version     BIGINT NOT NULL,
    deleted_at  BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX objects_unique_key ON objects(tenant_id, unique_key)
    WHERE unique_key IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX objects_by_kind ON objects(tenant_id, kind, id);
CREATE INDEX objects_deleted ON objects(deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE links (
    tenant_id   TEXT NOT NULL,
    relation    TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    member_kind TEXT NOT NULL,
    PRIMARY KEY (tenant_id, relation, group_id, member_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES objects(tenant_id, id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES objects(tenant_id, id)
);
CREATE INDEX links_by_member ON links(tenant_id, relation, member_id, group_id);

CREATE TABLE credentials (
    tenant_id   TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    expires_at  BIGINT,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, object_id, kind, key_id),
    FOREIGN KEY (tenant_id, object_id) REFERENCES objects(tenant_id, id)
);

CREATE TABLE change_feed (
    position     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    change       TEXT NOT NULL,
    payload      TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL
);
CREATE INDEX change_feed_by_tenant ON change_feed(tenant_id, position);
