-- Networks a user has signed in from successfully (an IPv4 /24 or IPv6 /64): smart lockout counts
-- failures from them apart from failures elsewhere, so an attacker far away cannot lock the
-- person out where they usually are. Rows not seen for 90 days are purged.
CREATE TABLE familiar_sources (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    source    TEXT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, source)
);
CREATE INDEX familiar_sources_by_last_seen ON familiar_sources(last_seen);
