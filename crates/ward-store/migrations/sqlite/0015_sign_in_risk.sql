-- Identity Protection (issue 8). `sign_in_risk` on a browser session: the risk of the sign-in
-- that started it, as the real-time detectors judged it: its level (`none`, `low`, `medium`,
-- `high`) followed by the detections' riskEventTypes, space-separated; empty for sessions from
-- before. Conditional access's signInRiskLevels reads it at every authorize request of the session.
ALTER TABLE sign_in_sessions ADD COLUMN sign_in_risk TEXT NOT NULL DEFAULT '';
-- Each user's sign-in profile (the countries, networks, devices and browsers they use, and their
-- last sign-ins), the document ward-risk's detectors compare a new sign-in with. Bounded in size
-- by ward_risk::ProfileLimits; written after sign-ins by a background writer.
CREATE TABLE sign_in_profiles (
    tenant_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    doc        TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX sign_in_profiles_by_age ON sign_in_profiles(updated_at);
