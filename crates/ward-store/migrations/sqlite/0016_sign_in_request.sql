-- Identity Protection (issue 8). `sign_in_request` on a browser session: the id of the request
-- that checked the sign-in's first factor (the password or passkey), which its risk detections
-- carry as requestId and its sign-in log records as originalRequestId, so that an administrator
-- confirming a logged sign-in safe or compromised reaches that sign-in's detections. Empty for
-- sessions from before.
ALTER TABLE sign_in_sessions ADD COLUMN sign_in_request TEXT NOT NULL DEFAULT '';
