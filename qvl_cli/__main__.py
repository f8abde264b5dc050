from qvl_cli.cli import main

main()
