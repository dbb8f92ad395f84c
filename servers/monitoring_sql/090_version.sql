-- Record what was deployed; DbTools compares it with the version it ships.
DECLARE @version nvarchar(20) = ?;
UPDATE DbTools.Config SET value = @version, updated_at = SYSUTCDATETIME()
WHERE name = N'schema_version';
IF @@ROWCOUNT = 0
    INSERT INTO DbTools.Config (name, value) VALUES (N'schema_version', @version);
