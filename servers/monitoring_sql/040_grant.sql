-- Collection by a login that is not db_owner (a monitoring login with VIEW SERVER STATE only)
-- needs EXECUTE on the procedure. Granted to public: the procedure runs as its caller and reads
-- only dynamic management views, whose permission (VIEW SERVER STATE, on 2022 VIEW SERVER
-- PERFORMANCE STATE) SQL Server checks against the caller, so a login without it gets error 300
-- and nothing else. A DBA who prefers a role can REVOKE this and grant the role instead.
-- SQL Agent jobs (set 12) need more, in msdb, which DbTools does not grant itself: a user there
-- (guest, enabled by default) and SELECT on dbo.sysjobs, dbo.sysjobservers and
-- dbo.sysjobhistory (SQLAgentReaderRole does not give it; db_datareader does). Without them the
-- collection goes on and says "no_permission" (README, SQL Server access).
GRANT EXECUTE ON OBJECT::DbTools.usp_CollectMetrics TO public;
