"""One module per ``persist-nemesis`` subcommand; each exposes a click command
and returns its exit code (0 valid, 1 invalid, 2 unknown)."""
