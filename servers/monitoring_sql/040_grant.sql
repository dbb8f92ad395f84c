-- Collection by a login that is not db_owner (a monitoring login with VIEW SERVER STATE only)
-- needs EXECUTE on the procedure. Granted to public: the procedure runs as its caller and reads
-- only dynamic management views, whose permission (VIEW SERVER STATE, on 2022 VIEW SERVER
-- PERFORMANCE STATE) SQL Server checks against the caller, so a login without it gets error 300
-- and nothing else. A DBA who prefers a role can REVOKE this and grant the role instead.
GRANT EXECUTE ON OBJECT::DbTools.usp_CollectMetrics TO public;
