-- Who approved a device sign-in: a member acting in an organisation approves it for the
-- organisation's account, and the authtoken it makes is that member's (so removing the member
-- revokes it).
ALTER TABLE device_codes ADD COLUMN approved_by TEXT;
