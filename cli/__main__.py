from phalanx.cli.app import main

main()
