from herald.scheduler.main import main

main()
