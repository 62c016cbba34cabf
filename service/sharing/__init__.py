"""What forked worker processes and their threads share: a process-shared lock, request slots,
the cached process id. Imports nothing else of the service."""
