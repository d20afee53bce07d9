"""Day-2 operations on a deployed plan: status, logs, down, restart. One module each."""
