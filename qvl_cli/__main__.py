from qvl_cli.launch import main

main()
