from reglab.cli import console_main

console_main()
