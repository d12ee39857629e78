-- Whether this user may create the temporary staging table (PostgreSQL grants TEMPORARY to everyone unless
-- it was revoked), and the names a GRANT would need.
SELECT has_database_privilege(current_database(), 'TEMPORARY') AS allowed, current_database() AS database, current_user AS role
