-- Idle lifetime of browser sessions: a session also ends once `idle_until` passes (it slides forward
-- while the person keeps using it, up to `expires_at`). NULL for sessions from before: no idle
-- limit. `persistent`: the person chose "stay signed in" (1) or not (0).
ALTER TABLE sign_in_sessions ADD COLUMN idle_until BIGINT;
ALTER TABLE sign_in_sessions ADD COLUMN persistent BIGINT NOT NULL DEFAULT 0;
