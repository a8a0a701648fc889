from eavs.cli import main

main()
