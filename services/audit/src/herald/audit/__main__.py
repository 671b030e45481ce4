from herald.audit.main import main

main()
