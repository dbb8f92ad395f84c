"""The metric types DbTools stores. The code is the reference: a type added here appears in
every tenant database the first time it is needed."""

METRIC_TYPES = [
    ("cpu_percent", "%", "SQL Server process CPU (ring buffer, one record a minute)"),
    ("cpu_other_percent", "%", "CPU used by other processes on the host"),
    ("memory_percent", "%", "Host physical memory in use (the OS figure)"),
    ("connection_count", "count", "Connections (sys.dm_exec_connections)"),
    ("batch_requests_sec", "/s", "Batch Requests/sec"),
    ("wait_time_ms", "ms/s", "Wait time per second, benign waits excluded"),
    ("disk_io_reads", "/s", "Reads per second, all database files"),
    ("disk_io_writes", "/s", "Writes per second, all database files"),
    ("read_latency_ms", "ms", "Average read stall per read"),
    ("write_latency_ms", "ms", "Average write stall per write"),
    ("user_sessions", "count", "User sessions"),
    ("page_life_expectancy", "s", "Page life expectancy"),
    ("sql_compilations_sec", "/s", "SQL Compilations/sec"),
    ("active_requests", "count", "Requests of user sessions running or waiting"),
    ("blocked_requests", "count", "Requests blocked by another session"),
    ("memory_pressure_percent", "%", "OS memory reserve (outside SQL Server's target) in use"),
    ("sql_memory_mb", "MB", "Total Server Memory"),
    ("sql_target_memory_mb", "MB", "Target Server Memory"),
    ("memory_grants_pending", "count", "Memory Grants Pending"),
    ("memory_low", "flag", "Low-memory signal raised (OS or SQL Server process)"),
    # monitoring.extra: blocking and availability groups every collection; space and SQL Agent
    # jobs every DBTOOLS_SPACE_INTERVAL_SECONDS
    ("deadlocks_sec", "/s", "Deadlocks per second (Number of Deadlocks/sec, _Total)"),
    ("longest_block_seconds", "s", "Longest wait of a request blocked by another session"),
    ("head_blockers", "count", "Sessions at the head of a blocking chain"),
    ("volume_free_min_percent", "%", "Free space of the fullest volume holding database files"),
    ("log_used_max_percent", "%", "Highest Percent Log Used of any database"),
    ("data_files_mb", "MB", "Size of all data files"),
    ("log_files_mb", "MB", "Size of all log files"),
    ("agent_failed_jobs", "count", "Enabled SQL Agent jobs whose last run failed"),
    ("agent_job_failures", "count", "SQL Agent job failures since the previous check"),
    ("ag_unhealthy_replicas", "count", "Availability group database replicas not HEALTHY"),
    ("ag_log_send_queue_kb", "KB", "Largest availability group log send queue"),
    ("ag_redo_queue_kb", "KB", "Largest availability group redo queue"),
]
