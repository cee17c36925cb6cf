from bizractl.cli import main

main()
