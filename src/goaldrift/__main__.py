from goaldrift.cli import main

raise SystemExit(main())
