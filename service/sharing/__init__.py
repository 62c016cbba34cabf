"""What forked worker processes and their threads share: a process-shared lock, request slots,
records in shared memory, the cached process id. Imports nothing else of the service."""
