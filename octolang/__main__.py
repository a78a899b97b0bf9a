from octolang.cli import main

main()
