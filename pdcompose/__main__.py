from pdcompose.cli import main

main()
