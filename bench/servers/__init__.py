"""Server processes: each prints ``ready <url>`` on stdout, then serves until SIGINT/SIGTERM."""
