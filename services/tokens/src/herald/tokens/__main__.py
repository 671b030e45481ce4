from herald.tokens.main import main

main()
