from photosync.cli import main

main()
