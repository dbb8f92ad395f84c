-- DbTools monitoring objects: the schema that holds them.
IF SCHEMA_ID(N'DbTools') IS NULL
    EXEC(N'CREATE SCHEMA DbTools AUTHORIZATION dbo');
