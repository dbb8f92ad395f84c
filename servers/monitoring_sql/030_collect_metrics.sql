-- One round trip per collection: several result sets, VIEW SERVER STATE only.
-- CREATE OR ALTER needs SQL Server 2016 SP1; a stub then ALTER works on 2016 RTM too.
IF OBJECT_ID(N'DbTools.usp_CollectMetrics', N'P') IS NULL
    EXEC(N'CREATE PROCEDURE DbTools.usp_CollectMetrics AS RETURN 0');
GO
ALTER PROCEDURE DbTools.usp_CollectMetrics
    @last_cpu_record_id bigint = NULL,
    @last_cpu_ms_ticks bigint = NULL,  -- [timestamp] of the last CPU record seen (version 11)
    -- Version 12: @space = 1 adds space and SQL Agent jobs (sets 10 to 12), which change slowly
    -- and cost more (every file's volume, msdb), so DbTools asks for them every few minutes.
    @space bit = 0,
    @last_job_instance_id int = NULL  -- msdb.dbo.sysjobhistory.instance_id last seen
    -- Version 13: same parameters; sets 8, 9 and 13 have more columns (monitoring.extra reads
    -- both shapes).
AS
BEGIN
    SET NOCOUNT ON;
    -- Stay out of the workload's way: lose any deadlock, never wait long on a lock, read no locks.
    SET DEADLOCK_PRIORITY LOW;
    SET LOCK_TIMEOUT 1000;
    SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED;

    DECLARE @ms_ticks bigint = (SELECT ms_ticks FROM sys.dm_os_sys_info);

    -- 1. instance: the instance's own clock, so rates do not depend on the collector's timing
    SELECT SYSUTCDATETIME() AS collected_at,
           @ms_ticks AS ms_ticks,
           si.sqlserver_start_time,
           si.cpu_count,
           si.physical_memory_kb,
           si.committed_kb,
           si.committed_target_kb,
           -- Some hardware writes ProcessUtilization on a base of 100 per NUMA node: the
           -- collector scales such records back. The DAC's node is not a NUMA node.
           (SELECT COUNT(*) FROM sys.dm_os_nodes
            WHERE node_state_desc NOT LIKE N'%DAC%') AS numa_nodes,
           -- With the start time, the epoch the counters belong to: behind an availability
           -- group listener the same address reaches another replica after a failover.
           @@SERVERNAME AS server_name
    FROM sys.dm_os_sys_info AS si;

    -- 2. CPU: one SystemHealth record a minute; every record newer than the last one seen.
    --    Filtered on [timestamp] (ms_ticks when written) before any conversion to XML, so a
    --    collection parses the new records only, not the ring's 256. ms_ticks counts from the
    --    machine's start: a last timestamp above it means the machine restarted (all records);
    --    a service restart leaves it running and new records follow the old ones. Without a
    --    timestamp (first collection) the record id decides.
    DECLARE @since bigint = CASE WHEN @last_cpu_ms_ticks <= @ms_ticks THEN @last_cpu_ms_ticks END;
    SELECT rb.record_id,
           DATEADD(ms, -1 * (@ms_ticks - rb.[timestamp]), SYSUTCDATETIME()) AS event_time,
           rb.sql_cpu,
           rb.system_idle,
           rb.[timestamp] AS record_ms_ticks
    FROM (
        SELECT x.record.value('(./Record/@id)[1]', 'bigint') AS record_id,
               x.[timestamp],
               x.record.value('(./Record/SchedulerMonitorEvent/SystemHealth/ProcessUtilization)[1]', 'int') AS sql_cpu,
               x.record.value('(./Record/SchedulerMonitorEvent/SystemHealth/SystemIdle)[1]', 'int') AS system_idle
        FROM (
            SELECT [timestamp], CONVERT(xml, record) AS record
            FROM sys.dm_os_ring_buffers
            WHERE ring_buffer_type = N'RING_BUFFER_SCHEDULER_MONITOR'
              AND [timestamp] > ISNULL(@since, 0)
              AND record LIKE N'%<SystemHealth>%'
        ) AS x
    ) AS rb
    WHERE @since IS NOT NULL OR rb.record_id > ISNULL(@last_cpu_record_id, 0)
    ORDER BY rb.record_id;

    -- 3. memory: the OS's figures and SQL Server's low-memory signals (with the Memory Manager
    --    counters of set 5, what the collector judges memory pressure by)
    SELECT sm.total_physical_memory_kb,
           sm.available_physical_memory_kb,
           sm.system_memory_state_desc,
           pm.physical_memory_in_use_kb,
           pm.memory_utilization_percentage,
           pm.process_physical_memory_low,
           pm.process_virtual_memory_low,
           sm.system_low_memory_signal_state
    FROM sys.dm_os_sys_memory AS sm
    CROSS JOIN sys.dm_os_process_memory AS pm;

    -- 4. connections, sessions and requests. User work is is_user_process = 1 (system sessions
    --    have ids above 50 too), without this collection's own request. A request is blocked by
    --    a session when blocking_session_id > 0: -2 to -5 are an orphaned distributed
    --    transaction, deferred recovery and latch waits whose owner is unknown or not tracked,
    --    which the documentation calls common and which block on no session.
    SELECT (SELECT COUNT(*) FROM sys.dm_exec_connections) AS connections,
           (SELECT COUNT(*) FROM sys.dm_exec_sessions WHERE is_user_process = 1) AS user_sessions,
           (SELECT COUNT(*) FROM sys.dm_exec_requests AS r
            JOIN sys.dm_exec_sessions AS s ON s.session_id = r.session_id
            WHERE s.is_user_process = 1 AND r.session_id <> @@SPID) AS active_requests,
           (SELECT COUNT(*) FROM sys.dm_exec_requests
            WHERE blocking_session_id > 0) AS blocked_requests;

    -- 5. performance counters, read by cntr_type: 65792 raw, 272696576 cumulative per second,
    --    537003264 ratio over its 1073939712 base
    SELECT RTRIM(pc.[object_name]) AS object_name,
           RTRIM(pc.counter_name) AS counter_name,
           RTRIM(pc.instance_name) AS instance_name,
           pc.cntr_value,
           pc.cntr_type
    FROM sys.dm_os_performance_counters AS pc
    WHERE (pc.counter_name IN (N'Batch Requests/sec', N'SQL Compilations/sec',
                               N'SQL Re-Compilations/sec', N'User Connections',
                               N'Processes blocked', N'Memory Grants Pending',
                               N'Target Server Memory (KB)', N'Total Server Memory (KB)',
                               N'Page life expectancy', N'Lock Waits/sec',
                               N'Number of Deadlocks/sec',
                               N'Buffer cache hit ratio', N'Buffer cache hit ratio base')
           AND pc.instance_name IN (N'', N'_Total'))
       OR (pc.counter_name = N'Page life expectancy' AND pc.[object_name] LIKE N'%Buffer Manager%');

    -- 6. waits, cumulative since start, without the benign ones: background threads that wait
    --    all the time (idle queues, sleeps, timers), which would bury real waits under days of
    --    idle time. This list is the one place DbTools filters waits. Sources: sp_BlitzFirst's
    --    #IgnorableWaits (First Responder Kit), DBA Dash's excluded wait types, SQLWATCH's
    --    ignored waits and Paul Randal's list of benign waits (SQLskills), which also gives the
    --    PREEMPTIVE_OS_* and PREEMPTIVE_XE_* calls idle threads sit in. PREEMPTIVE_OS_CREATEFILE,
    --    _FILEOPS and _WRITEFILEGATHER stay: file creation and growth (zeroing) are real work a
    --    DBA wants to see. CXCONSUMER is left out on purpose: Microsoft documents it as the
    --    normal consumer side of any parallel query; parallelism trouble still shows as
    --    CXPACKET, which is kept.
    SELECT ws.wait_type,
           ws.waiting_tasks_count,
           ws.wait_time_ms,
           ws.signal_wait_time_ms
    FROM sys.dm_os_wait_stats AS ws
    WHERE ws.wait_time_ms > 0
      AND ws.wait_type NOT IN (
        N'BROKER_EVENTHANDLER', N'BROKER_RECEIVE_WAITFOR', N'BROKER_TASK_STOP', N'BROKER_TO_FLUSH',
        N'BROKER_TRANSMITTER', N'CHECKPOINT_QUEUE', N'CHKPT', N'CLR_AUTO_EVENT',
        N'CLR_MANUAL_EVENT', N'CLR_SEMAPHORE', N'CXCONSUMER', N'DBMIRRORING_CMD',
        N'DBMIRROR_DBM_EVENT', N'DBMIRROR_DBM_MUTEX', N'DBMIRROR_EVENTS_QUEUE',
        N'DBMIRROR_WORKER_QUEUE', N'DIRTY_PAGE_POLL', N'DISPATCHER_QUEUE_SEMAPHORE', N'EXECSYNC',
        N'FSAGENT', N'FT_IFTSHC_MUTEX', N'FT_IFTS_SCHEDULER_IDLE_WAIT', N'HADR_CLUSAPI_CALL',
        N'HADR_FABRIC_CALLBACK', N'HADR_FILESTREAM_IOMGR_IOCOMPLETION', N'HADR_LOGCAPTURE_WAIT',
        N'HADR_NOTIFICATION_DEQUEUE', N'HADR_TIMER_TASK', N'HADR_WORK_QUEUE', N'KSOURCE_WAKEUP',
        N'LAZYWRITER_SLEEP', N'LOGMGR_QUEUE', N'MEMORY_ALLOCATION_EXT', N'ONDEMAND_TASK_QUEUE',
        N'PARALLEL_REDO_DRAIN_WORKER', N'PARALLEL_REDO_LOG_CACHE', N'PARALLEL_REDO_TRAN_LIST',
        N'PARALLEL_REDO_TRAN_TURN', N'PARALLEL_REDO_WORKER_SYNC', N'PARALLEL_REDO_WORKER_WAIT_WORK',
        N'PREEMPTIVE_HADR_LEASE_MECHANISM', N'PREEMPTIVE_OS_AUTHENTICATIONOPS',
        N'PREEMPTIVE_OS_AUTHORIZATIONOPS', N'PREEMPTIVE_OS_COMOPS', N'PREEMPTIVE_OS_CRYPTOPS',
        N'PREEMPTIVE_OS_DEVICEOPS', N'PREEMPTIVE_OS_FLUSHFILEBUFFERS', N'PREEMPTIVE_OS_GENERICOPS',
        N'PREEMPTIVE_OS_GETPROCADDRESS', N'PREEMPTIVE_OS_LIBRARYOPS', N'PREEMPTIVE_OS_PIPEOPS',
        N'PREEMPTIVE_OS_QUERYREGISTRY', N'PREEMPTIVE_OS_VERIFYTRUST',
        N'PREEMPTIVE_OS_WAITFORSINGLEOBJECT', N'PREEMPTIVE_SP_SERVER_DIAGNOSTICS',
        N'PREEMPTIVE_XE_CALLBACKEXECUTE', N'PREEMPTIVE_XE_DISPATCHER', N'PREEMPTIVE_XE_GETTARGETSTATE',
        N'PREEMPTIVE_XE_SESSIONCOMMIT', N'PREEMPTIVE_XE_TARGETFINALIZE', N'PREEMPTIVE_XE_TARGETINIT',
        N'PVS_PREALLOCATE',
        N'PWAIT_ALL_COMPONENTS_INITIALIZED', N'PWAIT_DIRECTLOGCONSUMER_GETNEXT',
        N'PWAIT_EXTENSIBILITY_CLEANUP_TASK', N'QDS_ASYNC_QUEUE',
        N'QDS_CLEANUP_STALE_QUERIES_TASK_MAIN_LOOP_SLEEP', N'QDS_PERSIST_TASK_MAIN_LOOP_SLEEP',
        N'QDS_SHUTDOWN_QUEUE', N'REDO_THREAD_PENDING_WORK', N'REQUEST_FOR_DEADLOCK_SEARCH',
        N'RESOURCE_QUEUE', N'SERVER_IDLE_CHECK', N'SLEEP_BPOOL_FLUSH', N'SLEEP_DBSTARTUP',
        N'SLEEP_DCOMSTARTUP', N'SLEEP_MASTERDBREADY', N'SLEEP_MASTERMDREADY',
        N'SLEEP_MASTERUPGRADED', N'SLEEP_MSDBSTARTUP', N'SLEEP_SYSTEMTASK', N'SLEEP_TASK',
        N'SLEEP_TEMPDBSTARTUP', N'SNI_CONN_DUP', N'SNI_HTTP_ACCEPT', N'SOS_WORK_DISPATCHER',
        N'SP_SERVER_DIAGNOSTICS_SLEEP', N'SQLTRACE_BUFFER_FLUSH',
        N'SQLTRACE_INCREMENTAL_FLUSH_SLEEP', N'SQLTRACE_WAIT_ENTRIES',
        N'STARTUP_DEPENDENCY_MANAGER', N'UCS_SESSION_REGISTRATION', N'VDI_CLIENT_OTHER', N'WAITFOR',
        N'WAITFOR_TASKSHUTDOWN', N'WAIT_FOR_RESULTS', N'WAIT_XTP_CKPT_CLOSE', N'WAIT_XTP_HOST_WAIT',
        N'WAIT_XTP_OFFLINE_CKPT_NEW_LOG', N'WAIT_XTP_RECOVERY', N'XE_BUFFERMGR_ALLPROCESSED_EVENT',
        N'XE_DISPATCHER_JOIN', N'XE_DISPATCHER_WAIT', N'XE_LIVE_TARGET_TVF', N'XE_TIMER_EVENT'
      );

    -- 7. file I/O per database (the sum of its files: nothing reads them per file), cumulative
    --    since start; sample_ms is the instance's clock for the deltas. Not joined to
    --    sys.master_files: it shows rows only to a login with VIEW ANY DEFINITION (or CREATE
    --    DATABASE, ALTER ANY DATABASE), so a least-privilege login would get no row and no
    --    error. DB_NAME needs VIEW ANY DATABASE, which public holds by default.
    SELECT vfs.database_id,
           DB_NAME(vfs.database_id) AS database_name,
           COUNT(*) AS files,
           SUM(vfs.num_of_reads) AS num_of_reads,
           SUM(vfs.num_of_bytes_read) AS num_of_bytes_read,
           SUM(vfs.io_stall_read_ms) AS io_stall_read_ms,
           SUM(vfs.num_of_writes) AS num_of_writes,
           SUM(vfs.num_of_bytes_written) AS num_of_bytes_written,
           SUM(vfs.io_stall_write_ms) AS io_stall_write_ms,
           SUM(vfs.size_on_disk_bytes) AS size_on_disk_bytes,
           MAX(vfs.sample_ms) AS sample_ms
    FROM sys.dm_io_virtual_file_stats(NULL, NULL) AS vfs
    GROUP BY vfs.database_id;

    -- Sets 8 to 11 each fill a table variable inside their own TRY/CATCH and are returned
    -- afterwards: one error (1222 under LOCK_TIMEOUT on sys.databases during a RESTORE or ALTER
    -- DATABASE, a DMV missing on a build) loses that set only, with its status in set 13,
    -- never the CPU, waits and I/O of this round trip.
    DECLARE @blocking_status varchar(20) = 'ok', @ag_status varchar(20) = 'ok',
            @volumes_status varchar(20) = 'not_collected',
            @databases_status varchar(20) = 'not_collected', @volumes_truncated bit = 0;

    -- 8. blocking: each head blocker (blocks others, blocked by no session itself) with every
    --    request waiting behind it, directly or down the chain, and what the longest waiter of
    --    its direct victims waits on. sys.dm_exec_requests is read once into @waiting: read
    --    again per reference, a chain changing between reads gave phantom or double heads.
    --    Only chains whose longest wait is at least 1 s count (DBA Dash: wait_time > 1000):
    --    sub-second lock waits are normal work. The head's status, open transactions and last
    --    request end show a sleeping session holding a transaction (an application that forgot
    --    to commit), the usual head blocker.
    DECLARE @waiting TABLE (
        session_id smallint NOT NULL,
        blocking_session_id smallint NOT NULL,
        wait_time int NULL,
        wait_type nvarchar(60) NULL,
        wait_resource nvarchar(256) NULL
    );
    DECLARE @blockers TABLE (
        session_id smallint NOT NULL,
        login_name nvarchar(128) NULL,
        [host_name] nvarchar(128) NULL,
        [program_name] nvarchar(128) NULL,
        blocked_count int NOT NULL,
        longest_wait_ms int NULL,
        wait_type nvarchar(60) NULL,
        wait_resource nvarchar(256) NULL,
        session_status nvarchar(30) NULL,
        open_transaction_count int NULL,
        last_request_end_time datetime NULL
    );
    BEGIN TRY
        INSERT INTO @waiting (session_id, blocking_session_id, wait_time, wait_type, wait_resource)
        SELECT r.session_id, r.blocking_session_id, r.wait_time, r.wait_type, r.wait_resource
        FROM sys.dm_exec_requests AS r
        WHERE r.blocking_session_id > 0 AND r.blocking_session_id <> r.session_id;

        WITH chain AS (
            SELECT w.blocking_session_id AS head, w.session_id, w.wait_time, 1 AS depth
            FROM @waiting AS w
            WHERE NOT EXISTS (SELECT 1 FROM @waiting AS up WHERE up.session_id = w.blocking_session_id)
            UNION ALL
            SELECT c.head, w.session_id, w.wait_time, c.depth + 1
            FROM chain AS c
            JOIN @waiting AS w ON w.blocking_session_id = c.session_id
            WHERE c.depth < 32
        )
        INSERT INTO @blockers (session_id, login_name, [host_name], [program_name], blocked_count,
                               longest_wait_ms, wait_type, wait_resource, session_status,
                               open_transaction_count, last_request_end_time)
        SELECT TOP (5) h.head,
               s.login_name,
               s.[host_name],
               s.[program_name],
               h.blocked_count,
               h.longest_wait_ms,
               d.wait_type,
               d.wait_resource,
               s.[status],
               s.open_transaction_count,
               s.last_request_end_time
        FROM (SELECT head, COUNT(*) AS blocked_count, MAX(wait_time) AS longest_wait_ms
              FROM chain GROUP BY head HAVING MAX(wait_time) >= 1000) AS h
        LEFT JOIN sys.dm_exec_sessions AS s ON s.session_id = h.head
        OUTER APPLY (SELECT TOP (1) w.wait_type, w.wait_resource FROM @waiting AS w
                     WHERE w.blocking_session_id = h.head ORDER BY w.wait_time DESC) AS d
        ORDER BY h.blocked_count DESC, h.longest_wait_ms DESC;
    END TRY
    BEGIN CATCH
        SET @blocking_status = 'error:' + CONVERT(varchar(11), ERROR_NUMBER());
    END CATCH
    SELECT session_id, login_name, [host_name], [program_name], blocked_count, longest_wait_ms,
           wait_type, wait_resource, session_status, open_transaction_count, last_request_end_time
    FROM @blockers
    ORDER BY blocked_count DESC, longest_wait_ms DESC;

    -- 9. availability groups: each database replica this instance knows of (every replica's on
    --    a primary, its own on a secondary), from the DMVs (VIEW SERVER STATE) rather than the
    --    catalog views, whose rows need VIEW ANY DEFINITION. Queues are in KB. LEFT JOINs: a
    --    replica whose row in another DMV is missing (disconnected, mid-failover) is the one a
    --    DBA must see, not one to drop. No rows when HADR is off.
    DECLARE @ag TABLE (
        ag_name nvarchar(128) NULL,
        replica_server_name nvarchar(256) NULL,
        database_name nvarchar(128) NULL,
        role_desc nvarchar(60) NULL,
        synchronization_state_desc nvarchar(60) NULL,
        synchronization_health_desc nvarchar(60) NULL,
        log_send_queue_kb bigint NULL,
        redo_queue_kb bigint NULL,
        is_local bit NULL,
        is_suspended bit NULL,
        suspend_reason_desc nvarchar(60) NULL,
        secondary_lag_seconds bigint NULL,
        last_commit_time datetime NULL
    );
    BEGIN TRY
        IF CAST(SERVERPROPERTY('IsHadrEnabled') AS int) = 1
            INSERT INTO @ag (ag_name, replica_server_name, database_name, role_desc,
                             synchronization_state_desc, synchronization_health_desc,
                             log_send_queue_kb, redo_queue_kb, is_local, is_suspended,
                             suspend_reason_desc, secondary_lag_seconds, last_commit_time)
            SELECT ag.ag_name,
                   rcs.replica_server_name,
                   DB_NAME(drs.database_id),
                   ars.role_desc,
                   drs.synchronization_state_desc,
                   drs.synchronization_health_desc,
                   drs.log_send_queue_size,
                   drs.redo_queue_size,
                   drs.is_local,
                   drs.is_suspended,
                   drs.suspend_reason_desc,
                   drs.secondary_lag_seconds,
                   drs.last_commit_time
            FROM sys.dm_hadr_database_replica_states AS drs
            LEFT JOIN sys.dm_hadr_availability_replica_states AS ars
                ON ars.replica_id = drs.replica_id
            LEFT JOIN sys.dm_hadr_availability_replica_cluster_states AS rcs
                ON rcs.replica_id = drs.replica_id
            LEFT JOIN sys.dm_hadr_name_id_map AS ag ON ag.ag_id = drs.group_id;
    END TRY
    BEGIN CATCH
        SET @ag_status = 'error:' + CONVERT(varchar(11), ERROR_NUMBER());
    END CATCH
    SELECT ag_name, replica_server_name, database_name, role_desc, synchronization_state_desc,
           synchronization_health_desc, log_send_queue_kb, redo_queue_kb, is_local, is_suspended,
           suspend_reason_desc, secondary_lag_seconds, last_commit_time
    FROM @ag;

    -- 10. space per volume (with @space). sys.dm_os_volume_stats makes an OS call per file it is
    --     given (sp_Blitz caps it: First Responder Kit #2568): one file per directory finds every
    --     volume, at most 100 files, truncation reported in set 13. sys.master_files gives the
    --     directories to a login with VIEW ANY DEFINITION; without it (no rows, no error) the
    --     first data and log file of each database from the file stats. On Linux
    --     volume_mount_point is NULL (documented): grouped by size instead, not into one row.
    DECLARE @files TABLE (n int NOT NULL, database_id int NOT NULL, [file_id] int NOT NULL);
    DECLARE @volumes TABLE (
        volume_mount_point nvarchar(256) NOT NULL,
        volume_name nvarchar(256) NULL,
        total_bytes bigint NULL,
        available_bytes bigint NULL,
        files int NOT NULL
    );
    IF @space = 1
    BEGIN
        BEGIN TRY
            INSERT INTO @files (n, database_id, [file_id])
            SELECT TOP (101) ROW_NUMBER() OVER (ORDER BY f.database_id, f.[file_id]),
                   f.database_id, f.[file_id]
            FROM (SELECT mf.database_id, mf.[file_id],
                         ROW_NUMBER() OVER (
                             PARTITION BY LEFT(REPLACE(mf.physical_name, N'/', N'\'),
                                               LEN(mf.physical_name)
                                               - CHARINDEX(N'\', REVERSE(REPLACE(mf.physical_name, N'/', N'\'))))
                             ORDER BY mf.database_id, mf.[file_id]) AS per_directory
                  FROM sys.master_files AS mf) AS f
            WHERE f.per_directory = 1
            ORDER BY f.database_id, f.[file_id];
            IF @@ROWCOUNT = 0
                INSERT INTO @files (n, database_id, [file_id])
                SELECT TOP (101) ROW_NUMBER() OVER (ORDER BY vfs.database_id, vfs.[file_id]),
                       vfs.database_id, vfs.[file_id]
                FROM sys.dm_io_virtual_file_stats(NULL, NULL) AS vfs
                WHERE vfs.[file_id] IN (1, 2)
                ORDER BY vfs.database_id, vfs.[file_id];
            DELETE FROM @files WHERE n > 100;
            IF @@ROWCOUNT > 0
                SET @volumes_truncated = 1;
            INSERT INTO @volumes (volume_mount_point, volume_name, total_bytes, available_bytes,
                                  files)
            SELECT ISNULL(vs.volume_mount_point, N'#' + CONVERT(nvarchar(20), vs.total_bytes)),
                   MAX(vs.logical_volume_name),
                   MAX(vs.total_bytes),
                   MIN(vs.available_bytes),
                   COUNT(*)
            FROM @files AS f
            CROSS APPLY sys.dm_os_volume_stats(f.database_id, f.[file_id]) AS vs
            GROUP BY ISNULL(vs.volume_mount_point, N'#' + CONVERT(nvarchar(20), vs.total_bytes));
            SET @volumes_status = 'ok';
        END TRY
        BEGIN CATCH
            SET @volumes_status = 'error:' + CONVERT(varchar(11), ERROR_NUMBER());
        END CATCH
    END
    SELECT volume_mount_point, volume_name, total_bytes, available_bytes, files
    FROM @volumes;

    -- 11. space per database (with @space): sizes from the Databases counters (all databases in
    --     one read, no per-database USE), and why the log cannot be reused yet. The counters'
    --     instance_name has the DMV's own collation, not necessarily the server's: compared in
    --     the database default, or error 468 on a server installed with another collation.
    DECLARE @databases TABLE (
        database_name sysname NOT NULL,
        state_desc nvarchar(60) NULL,
        recovery_model_desc nvarchar(60) NULL,
        log_reuse_wait_desc nvarchar(60) NULL,
        data_kb bigint NULL,
        log_kb bigint NULL,
        log_used_kb bigint NULL,
        percent_log_used bigint NULL
    );
    IF @space = 1
    BEGIN
        BEGIN TRY
            INSERT INTO @databases (database_name, state_desc, recovery_model_desc,
                                    log_reuse_wait_desc, data_kb, log_kb, log_used_kb,
                                    percent_log_used)
            SELECT d.name,
                   d.state_desc,
                   d.recovery_model_desc,
                   d.log_reuse_wait_desc,
                   pc.data_kb,
                   pc.log_kb,
                   pc.log_used_kb,
                   pc.percent_log_used
            FROM sys.databases AS d
            LEFT JOIN (
                SELECT RTRIM(instance_name) COLLATE DATABASE_DEFAULT AS database_name,
                       MAX(CASE WHEN counter_name = N'Data File(s) Size (KB)' THEN cntr_value END)
                           AS data_kb,
                       MAX(CASE WHEN counter_name = N'Log File(s) Size (KB)' THEN cntr_value END)
                           AS log_kb,
                       MAX(CASE WHEN counter_name = N'Log File(s) Used Size (KB)' THEN cntr_value END)
                           AS log_used_kb,
                       MAX(CASE WHEN counter_name = N'Percent Log Used' THEN cntr_value END)
                           AS percent_log_used
                FROM sys.dm_os_performance_counters
                WHERE [object_name] LIKE N'%:Databases%'
                  AND counter_name IN (N'Data File(s) Size (KB)', N'Log File(s) Size (KB)',
                                       N'Log File(s) Used Size (KB)', N'Percent Log Used')
                GROUP BY instance_name
            ) AS pc ON pc.database_name = d.name;
            SET @databases_status = 'ok';
        END TRY
        BEGIN CATCH
            SET @databases_status = 'error:' + CONVERT(varchar(11), ERROR_NUMBER());
        END CATCH
    END
    SELECT database_name, state_desc, recovery_model_desc, log_reuse_wait_desc, data_kb, log_kb,
           log_used_kb, percent_log_used
    FROM @databases;

    -- 12. SQL Agent jobs (with @space): each job's last outcome from msdb.dbo.sysjobservers
    --     (Agent's history limits, 1,000 rows and 100 per job by default, purge sysjobhistory,
    --     so a weekly job would look never run), whether Agent runs at all (its sessions), and
    --     failures since the history row last seen, one seek on the clustered instance_id (as
    --     DBA Dash). A last id above the newest means msdb was rebuilt or its history cleared:
    --     counted from the start. Express has no Agent. A login with no user in msdb (guest
    --     disabled) would get error 916 when the statement compiles, which a TRY at the same
    --     level does not catch and which would fail the whole collection: HAS_DBACCESS first,
    --     and the reads as dynamic SQL, compiled one level down where the CATCH sees it.
    DECLARE @agent varchar(20) = 'not_collected', @max_job_instance_id int = NULL,
            @agent_running bit = NULL, @job_since int = NULL;
    DECLARE @jobs TABLE (
        job_name sysname NOT NULL,
        enabled bit NOT NULL,
        last_run_status int NULL,
        last_run_date int NULL,
        last_run_time int NULL,
        failures int NOT NULL
    );
    IF @space = 1
    BEGIN
        IF CAST(SERVERPROPERTY('EngineEdition') AS int) = 4
            SET @agent = 'express';
        ELSE IF ISNULL(HAS_DBACCESS(N'msdb'), 0) = 0
            SET @agent = 'no_permission';
        ELSE
        BEGIN
            BEGIN TRY
                SET @agent_running = CASE WHEN EXISTS (
                    SELECT 1 FROM sys.dm_exec_sessions
                    WHERE [program_name] LIKE N'SQLAgent - %') THEN 1 ELSE 0 END;
                EXEC sys.sp_executesql
                    N'SELECT @max = MAX(instance_id) FROM msdb.dbo.sysjobhistory;',
                    N'@max int OUTPUT', @max = @max_job_instance_id OUTPUT;
                SET @job_since = CASE WHEN @last_job_instance_id > @max_job_instance_id THEN 0
                                      ELSE @last_job_instance_id END;
                INSERT INTO @jobs (job_name, enabled, last_run_status, last_run_date,
                                   last_run_time, failures)
                EXEC sys.sp_executesql N'
                    SELECT j.name, j.enabled, js.last_run_outcome, js.last_run_date,
                           js.last_run_time, ISNULL(f.failures, 0)
                    FROM msdb.dbo.sysjobs AS j
                    LEFT JOIN msdb.dbo.sysjobservers AS js
                        ON js.job_id = j.job_id AND js.server_id = 0
                    LEFT JOIN (SELECT h.job_id, COUNT(*) AS failures
                               FROM msdb.dbo.sysjobhistory AS h
                               WHERE h.instance_id > @since AND h.step_id = 0
                                 AND h.run_status = 0
                               GROUP BY h.job_id) AS f ON f.job_id = j.job_id;',
                    N'@since int', @since = @job_since;
                SET @agent = 'ok';
            END TRY
            BEGIN CATCH
                -- 229: SELECT denied; 916: no user in msdb. Anything else (1222 lock timeout,
                -- 1205 deadlock) is not a permission problem and says so.
                SET @agent = CASE WHEN ERROR_NUMBER() IN (229, 916) THEN 'no_permission'
                                  ELSE 'error:' + CONVERT(varchar(11), ERROR_NUMBER()) END;
                DELETE FROM @jobs;
                SET @max_job_instance_id = NULL;
            END CATCH
        END
    END
    SELECT job_name, enabled, last_run_status, last_run_date, last_run_time, failures
    FROM @jobs;

    -- 13. what this collection covered: HADR on or off, the Agent's availability, the history
    --     row to count failures from next time, the instance's offset from UTC (msdb keeps
    --     local times), whether Agent runs, each of sets 8 to 11's status (version 13).
    SELECT CAST(SERVERPROPERTY('IsHadrEnabled') AS int) AS hadr_enabled,
           @space AS space_collected,
           @agent AS agent_status,
           ISNULL(@max_job_instance_id, @last_job_instance_id) AS last_job_instance_id,
           DATEDIFF(minute, SYSUTCDATETIME(), SYSDATETIME()) AS utc_offset_minutes,
           @agent_running AS agent_running,
           @blocking_status AS blocking_status,
           @ag_status AS ag_status,
           @volumes_status AS volumes_status,
           @databases_status AS databases_status,
           @volumes_truncated AS volumes_truncated;
END
