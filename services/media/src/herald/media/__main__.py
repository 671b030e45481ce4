from herald.media.main import main

main()
