"""One module per ``qvl`` subcommand, imported only when that command runs."""
