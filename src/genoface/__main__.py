from genoface.cli import main

main()
