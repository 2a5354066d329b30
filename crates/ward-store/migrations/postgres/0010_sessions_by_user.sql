-- A person's recent sign-ins ("My security info"), newest first.
CREATE INDEX sign_in_sessions_by_user ON sign_in_sessions(tenant_id, user_id, auth_time);
