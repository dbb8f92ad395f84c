-- DbTools index maintenance policy

-- 1. What the server has:
SELECT d.name, d.recovery_model_desc, d.state_desc, d.is_read_only,
       CAST(CASE WHEN d.replica_id IS NULL THEN 0 ELSE 1 END AS bit) AS in_availability_group,
       CAST(CASE WHEN d.replica_id IS NULL THEN 1
                 ELSE sys.fn_hadr_backup_is_preferred_replica(d.name) END AS bit)
           AS preferred_backup_replica,
       CAST(CASE WHEN d.replica_id IS NULL THEN 1
                 WHEN EXISTS (SELECT 1 FROM sys.dm_hadr_availability_replica_states AS rs
                              WHERE rs.replica_id = d.replica_id AND rs.role = 1) THEN 1
                 ELSE 0 END AS bit) AS is_primary_replica,
       CAST(CASE WHEN rs.last_log_backup_lsn IS NULL THEN 0 ELSE 1 END AS bit) AS log_chain,
       CAST(CASE WHEN EXISTS (SELECT 1 FROM msdb.dbo.backupset AS b
                              WHERE b.database_name = d.name AND b.type = 'D'
                                AND b.is_copy_only = 0) THEN 1 ELSE 0 END AS bit)
           AS has_full_backup,
       (SELECT MAX(b.backup_finish_date) FROM msdb.dbo.backupset AS b
        WHERE b.database_name = d.name AND b.type IN ('D', 'I') AND b.is_copy_only = 0)
           AS last_full_or_diff,
       CAST(CASE WHEN d.source_database_id IS NULL THEN 0 ELSE 1 END AS bit) AS is_snapshot
FROM sys.databases AS d
LEFT JOIN sys.database_recovery_status AS rs ON rs.database_id = d.database_id
ORDER BY d.name;

-- 2. In each selected database (after USE), its indexes and statistics:
SELECT s.name AS schema_name, o.name AS table_name, i.name AS index_name, i.index_id,
       i.type_desc, ps.partition_number,
       (SELECT COUNT(*) FROM sys.partitions AS p
        WHERE p.object_id = i.object_id AND p.index_id = i.index_id) AS partitions,
       ps.avg_fragmentation_in_percent, ps.page_count, i.allow_page_locks,
       CAST(CASE WHEN EXISTS (SELECT 1 FROM sys.columns AS c
                              JOIN sys.types AS t ON t.user_type_id = c.user_type_id
                              WHERE c.object_id = i.object_id
                                AND (t.name IN (N'xml', N'image', N'text', N'ntext')
                                     OR c.max_length = -1)) THEN 1 ELSE 0 END AS bit) AS has_lob
FROM sys.dm_db_index_physical_stats(DB_ID(), NULL, NULL, NULL, 'LIMITED') AS ps
JOIN sys.indexes AS i ON i.object_id = ps.object_id AND i.index_id = ps.index_id
JOIN sys.objects AS o ON o.object_id = i.object_id
JOIN sys.schemas AS s ON s.schema_id = o.schema_id
WHERE ps.index_id > 0 AND ps.alloc_unit_type_desc = N'IN_ROW_DATA' AND o.is_ms_shipped = 0
  AND i.is_disabled = 0 AND i.is_hypothetical = 0 AND ps.page_count >= 1000
ORDER BY s.name, o.name, i.index_id, ps.partition_number;

SELECT s.name AS schema_name, o.name AS table_name, st.name AS stats_name,
       CAST(CASE WHEN i.index_id IS NULL THEN 0 ELSE 1 END AS bit) AS is_index,
       sp.modification_counter
FROM sys.stats AS st
JOIN sys.objects AS o ON o.object_id = st.object_id
JOIN sys.schemas AS s ON s.schema_id = o.schema_id
LEFT JOIN sys.indexes AS i ON i.object_id = st.object_id AND i.index_id = st.stats_id
CROSS APPLY sys.dm_db_stats_properties(st.object_id, st.stats_id) AS sp
WHERE o.is_ms_shipped = 0 AND o.type IN ('U', 'V')
ORDER BY s.name, o.name, st.name;

-- 3. Commands for the example database Sales:
-- 42.0 % fragmented, 120000 pages
ALTER INDEX [PK_Orders] ON [dbo].[Orders] REBUILD WITH (ONLINE = ON);
-- 12.5 % fragmented, 8000 pages
ALTER INDEX [IX_Orders_Customer] ON [dbo].[Orders] REORGANIZE;
-- 1200 modifications
UPDATE STATISTICS [dbo].[Orders] ([_WA_Sys_00000002_Status]);
